-- A small schema written by hand for SQLite, as an application's own runner made it: the golden
-- case of schemac import (tests/test_import.py; the expected spec is small.yaml).
CREATE TABLE authors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL DEFAULT 1 CONSTRAINT "ck_authors_active_bool" CHECK ("active" IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE books (
    id INTEGER NOT NULL PRIMARY KEY,
    author_id TEXT NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    genre TEXT NOT NULL DEFAULT 'novel' CONSTRAINT "ck_books_genre_enum" CHECK ("genre" IN ('novel', 'poetry', 'essay')),
    price NUMERIC NOT NULL DEFAULT 0,
    meta_json TEXT NOT NULL DEFAULT '{}',
    note TEXT DEFAULT 'it''s: "new"',
    published_at TEXT,
    CONSTRAINT ck_books_title_not_blank CHECK (length(title) > 0)
);

CREATE INDEX books_by_author ON books (author_id, published_at DESC);
CREATE UNIQUE INDEX books_title_per_author ON books (author_id, title) WHERE published_at IS NOT NULL;

CREATE VIEW recent_books AS SELECT * FROM books WHERE published_at IS NOT NULL;
CREATE TRIGGER books_touch AFTER UPDATE ON books BEGIN SELECT 1; END;
