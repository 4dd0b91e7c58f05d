-- Bootstrap rows every environment needs.
INSERT OR IGNORE INTO templates (id, name) VALUES ('blank', 'Blank document');
INSERT OR IGNORE INTO templates (id, name) VALUES ('report', 'Report');
