"""The scratch database: it runs a history as the runner does, refuses what could reach outside it,
and stops at fixed limits with exact findings."""

from __future__ import annotations

import inspect
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemac.errors import SchemacError
from schemac.migrations import scratch
from schemac.migrations.scratch import MAX_STEPS, ScratchDatabase, statement_spans

PREFIX = "SC525 cannot run this statement in a scratch SQLite database: "
FIX = " (hint: fix the statement; schemac runs the migrations as the runner does, in a scratch database)"
LIMIT = "SC528 cannot run this statement in a scratch SQLite database: "
LIMIT_HINT = " (hint: schemac runs the migrations within fixed limits; keep bulk data and heavy queries out of them)"
PAGES = "it grows the database beyond {} pages of 4,096 bytes" + LIMIT_HINT


def failure(sql: str, database: ScratchDatabase | None = None, display: str = "file.sql") -> str:
    """The one finding running ``sql`` gives, as printed (in ``database``, or in a new one closed after)."""
    db = database or ScratchDatabase()
    try:
        with pytest.raises(SchemacError) as raised:
            db.run(sql, display)
    finally:
        if database is None:
            db.close()
    [diagnostic] = raised.value.diagnostics
    return str(diagnostic)


FIRST = """\
-- 0001: customers; the first file
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL /* a comment; not the end */
);
CREATE INDEX customers_name ON customers (name);
INSERT INTO customers (id, name) VALUES (1, 'semi;colon'), (2, 'it''s; "quoted"');
"""
SECOND = """\
/* 0002: orders */ CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    note TEXT
);
CREATE TRIGGER orders_note AFTER INSERT ON orders BEGIN
    UPDATE orders SET note = 'a;b' WHERE id = NEW.id;
    SELECT CASE WHEN NEW.id < 0 THEN RAISE(ABORT, 'negative; id') END;
END;
INSERT INTO orders (id, customer_id) VALUES (1, 2);
SELECT * FROM orders; -- rows are read and dropped
"""


def test_a_history_gives_its_catalog() -> None:
    with ScratchDatabase() as db:
        db.run(FIRST, "migrations/0001_customers.sql")
        db.run(SECOND, "migrations/0002_orders.sql")
        assert db.catalog() == (
            ("index", "customers_name", "customers", "CREATE INDEX customers_name ON customers (name)"),
            (
                "table",
                "customers",
                "customers",
                "CREATE TABLE customers (\n    id INTEGER PRIMARY KEY,\n"
                "    name TEXT NOT NULL /* a comment; not the end */\n)",
            ),
            (
                "table",
                "orders",
                "orders",
                "CREATE TABLE orders (\n    id INTEGER PRIMARY KEY,\n"
                "    customer_id INTEGER NOT NULL REFERENCES customers (id),\n    note TEXT\n)",
            ),
            (
                "trigger",
                "orders_note",
                "orders",
                "CREATE TRIGGER orders_note AFTER INSERT ON orders BEGIN\n"
                "    UPDATE orders SET note = 'a;b' WHERE id = NEW.id;\n"
                "    SELECT CASE WHEN NEW.id < 0 THEN RAISE(ABORT, 'negative; id') END;\nEND",
            ),
        )
        assert db.tables() == {"customers", "orders"}


def test_the_catalog_leaves_out_sqlite_internals() -> None:
    with ScratchDatabase() as db:
        db.run("CREATE TABLE Things (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE, v);", "a.sql")
        db.run(
            "CREATE VIEW things_view AS SELECT id FROM Things; INSERT INTO Things (code) VALUES ('a'); ANALYZE;",
            "b.sql",
        )
        assert db.catalog() == (
            (
                "table",
                "Things",
                "Things",
                "CREATE TABLE Things (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE, v)",
            ),
            ("view", "things_view", "things_view", "CREATE VIEW things_view AS SELECT id FROM Things"),
        )
        assert db.tables() == {"things"}


def test_a_failing_statement_is_found_at_its_first_character() -> None:
    sql = "-- header\n/* a block\n   comment; */\n\nCREATE TABLE a (x);\n-- next one\n  SELECT * FROM missing;\n"
    assert failure(sql) == f"file.sql:7:3: {PREFIX}no such table: missing{FIX}"


def test_a_last_statement_needs_no_semicolon() -> None:
    assert failure("CREATE TABLE a (x);\n\n   INSERT INTO b VALUES (1) -- no ;") == (
        f"file.sql:3:4: {PREFIX}no such table: b{FIX}"
    )
    assert failure("SELECT 1;\nSELECT 'open; ") == f'file.sql:2:1: {PREFIX}unrecognized token: "\'open; "{FIX}'


def test_foreign_keys_stay_on() -> None:
    sql = (
        "PRAGMA foreign_keys=OFF;\n"
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));\n"
        "INSERT INTO child VALUES (7);\n"
    )
    assert failure(sql) == f"file.sql:4:1: {PREFIX}FOREIGN KEY constraint failed{FIX}"


def test_attach_is_refused_and_creates_no_file(tmp_path: Path) -> None:
    target = tmp_path / "attached.db"
    assert failure(f"CREATE TABLE a (x);\nATTACH DATABASE '{target}' AS other;") == (
        f"file.sql:2:1: {PREFIX}ATTACH and DETACH are not allowed in a migration "
        "(hint: a migration changes only the database it runs on)"
    )
    assert not target.exists()


def test_vacuum_into_is_refused_and_creates_no_file(tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    assert failure(f"CREATE TABLE a (x);\n/* copy */ vacuum INTO '{target}';") == (
        f"file.sql:2:12: {PREFIX}VACUUM is not allowed in a migration "
        "(hint: VACUUM cannot run inside the transaction the runner wraps every file in)"
    )
    assert not target.exists()


@pytest.mark.parametrize("statement", ["BEGIN;", "BEGIN IMMEDIATE;", "COMMIT;", "END;", "ROLLBACK;", "SAVEPOINT s;"])
def test_transaction_statements_are_refused(statement: str) -> None:
    assert failure(f"CREATE TABLE a (x);\n{statement}") == (
        f"file.sql:2:1: {PREFIX}transaction statements (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, END) are not "
        "allowed in a migration (hint: the runner wraps every migration file in its own transaction; remove this "
        "statement)"
    )


@pytest.mark.parametrize("function", ["load_extension", "fts3_tokenizer"])
def test_functions_reaching_outside_are_refused(function: str) -> None:
    assert failure(f"SELECT {function}('x');") == (
        f"file.sql:1:1: {PREFIX}the function {function}() is not allowed in a migration "
        "(hint: it can load code or reach outside the database)"
    )


@pytest.mark.parametrize(
    ("statement", "pragma"),
    [
        ("PRAGMA temp_store_directory = '/tmp';", "temp_store_directory"),
        ("PRAGMA main.max_page_count = 1000000000;", "max_page_count"),
        ("PRAGMA writable_schema = ON;", "writable_schema"),
        ("SELECT * FROM pragma_hard_heap_limit;", "hard_heap_limit"),
    ],
)
def test_pragmas_reaching_outside_are_refused(statement: str, pragma: str) -> None:
    assert failure(statement) == (
        f"file.sql:1:1: {PREFIX}PRAGMA {pragma} may not be used in a migration checked by schemac "
        "(hint: it reaches outside the database, changes the whole process or lifts a limit of schemac's)"
    )


def test_storage_pragmas_are_no_ops() -> None:
    with ScratchDatabase(pages=64) as db:
        db.run(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = 0; PRAGMA cache_size = 1; PRAGMA user_version = 3;", "a"
        )
        sql = (
            "PRAGMA temp_store = FILE;\nCREATE TEMP TABLE t (x);\n"
            "INSERT INTO t WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000) "
            "SELECT randomblob(100) FROM c;"
        )
        assert failure(sql, db) == f"file.sql:3:1: {LIMIT}{PAGES.format(64)}"


def test_virtual_tables_beyond_fts_and_rtree_are_refused() -> None:
    with ScratchDatabase() as db:
        db.run("CREATE VIRTUAL TABLE docs USING fts5 (body);", "a.sql")
        assert "docs" in db.tables()
    assert failure("CREATE VIRTUAL TABLE pages USING dbstat;") == (
        f"file.sql:1:1: {PREFIX}virtual tables of the module dbstat are not allowed in a migration "
        "(hint: use fts3, fts3tokenize, fts4, fts4aux, fts5, fts5vocab, geopoly, rtree, rtree_i32)"
    )


def test_a_nul_character_is_refused_before_anything_runs() -> None:
    with ScratchDatabase() as db:
        assert failure("CREATE TABLE a (x);\nSELECT 'a\0b';", db) == (
            f"file.sql:2:10: {PREFIX}the file holds a NUL character (U+0000) (hint: remove it)"
        )
        assert db.catalog() == ()


def test_an_endless_query_stops_at_the_step_budget() -> None:
    sql = "CREATE TABLE a (x);\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c;"
    with ScratchDatabase(steps=100_000) as db:
        assert failure(sql, db) == f"file.sql:2:1: {LIMIT}it takes more than 100,000 SQLite steps{LIMIT_HINT}"
    assert MAX_STEPS == 200_000_000
    assert inspect.signature(ScratchDatabase).parameters["steps"].default == MAX_STEPS


def test_the_step_budget_covers_every_file() -> None:
    count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 10000) SELECT count(*) FROM c;"
    with ScratchDatabase(steps=600_000) as db:
        for number in range(1, 4):
            db.run(count, f"{number}.sql")  # 170,000 steps each
        assert failure(count, db, "4.sql") == f"4.sql:1:1: {LIMIT}it takes more than 600,000 SQLite steps{LIMIT_HINT}"
        with pytest.raises(RuntimeError):
            db.run("SELECT 1;", "5.sql")


def test_a_long_value_hits_the_length_limit() -> None:
    assert failure("SELECT randomblob(100000000);") == (
        f"file.sql:1:1: {LIMIT}it makes a string, blob or row longer than 1,048,576 bytes{LIMIT_HINT}"
    )


def test_a_growing_database_hits_the_page_limit() -> None:
    sql = (
        "CREATE TABLE big (x);\n"
        "INSERT INTO big WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c)\n"
        "SELECT randomblob(1000) FROM c;"
    )
    with ScratchDatabase(pages=256) as db:
        assert failure(sql, db) == f"file.sql:2:1: {LIMIT}{PAGES.format(256)}"


def test_a_sort_too_big_for_memory_hits_the_heap_limit() -> None:
    sql = (
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1100)\n"
        "SELECT zeroblob(1000000) FROM c ORDER BY i DESC;"
    )
    assert failure(sql) == f"file.sql:1:1: {LIMIT}it needs more than 1,073,741,824 bytes of memory{LIMIT_HINT}"


def test_deep_expressions_and_long_patterns_hit_their_limits() -> None:
    assert failure("SELECT " + " + ".join(["1"] * 1_100) + ";") == (
        f"file.sql:1:1: {LIMIT}it nests expressions more than 1,000 deep{LIMIT_HINT}"
    )
    assert failure("SELECT 'a' LIKE printf('%.*c', 2000, '%');") == (
        f"file.sql:1:1: {LIMIT}it has a LIKE or GLOB pattern longer than 1,000 bytes{LIMIT_HINT}"
    )


# The splitter.

_TOKENS = st.sampled_from(
    [
        "x",
        "1",
        "END",
        "CASE",
        "BEGIN",
        "'a;b'",
        "'it''s;'",
        "'--;'",
        "'/*;'",
        '"q;"',
        '"it\'s;"',
        "`b;t`",
        "[s;q]",
        "/* ; */",
        "-- c;\n",
        "-",
        "/",
        "(",
        ")",
    ]
)
_SELECT = st.lists(_TOKENS, max_size=6).map(lambda tokens: " ".join(["SELECT", *tokens]) + ";")
_TRIGGER = st.lists(_SELECT, min_size=1, max_size=4).map(
    lambda body: "CREATE TRIGGER t AFTER INSERT ON x BEGIN " + " ".join(body) + " END;"
)
_SEPARATORS = st.sampled_from(["", " ", "\n", "\t", "\r\n", ";", " ; ", "-- sep;\n", "/* sep; */"])


@given(
    st.lists(st.tuples(_SEPARATORS, st.one_of(_SELECT, _TRIGGER)), max_size=6),
    _SEPARATORS,
    st.booleans(),
)
def test_splitting_joined_statements_gives_them_back(
    pieces: list[tuple[str, str]], last_separator: str, open_end: bool
) -> None:
    statements = [statement for _, statement in pieces]
    if open_end and statements:
        statements[-1] = statements[-1].removesuffix(";")  # a last statement without its ';'
        last_separator = ""
    sql = (
        "".join(separator + statement for (separator, _), statement in zip(pieces, statements, strict=True))
        + last_separator
    )
    assert [sql[start:end] for start, end in statement_spans(sql)] == statements


def test_splitting_reads_each_character_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    body = "UPDATE x SET y = ';';" * 20_000
    sql = f"CREATE TABLE x (y);\nCREATE TRIGGER t AFTER INSERT ON x BEGIN {body} END;\nSELECT 1;\n" * 3
    complete = sqlite3.complete_statement
    read: list[int] = []

    def counting(text: str) -> bool:
        read.append(len(text))
        return complete(text)

    monkeypatch.setattr(scratch.sqlite3, "complete_statement", counting)
    assert len(list(statement_spans(sql))) == 9
    assert sum(read) < 2 * len(sql)
