-- Raw SQL step: a template for streamed sessions. Safe to run again.
INSERT OR IGNORE INTO templates (id, name) VALUES ('streaming', 'Streaming session notes');
