CREATE TABLE IF NOT EXISTS quality_gates (
    id TEXT PRIMARY KEY,
    section_id TEXT NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    passed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS quality_gates_section ON quality_gates (section_id);
