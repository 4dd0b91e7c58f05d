"""Project: see docs/architecture.md."""
