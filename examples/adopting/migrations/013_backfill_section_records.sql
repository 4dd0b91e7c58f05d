-- Backfill: every document gets a first section. Safe to run again.
INSERT OR IGNORE INTO sections (id, document_id, position, body)
SELECT 'first-' || id, id, 0, '' FROM documents;
