"""Project: settings, bounded reads of untrusted files, the in-memory pipeline and its workers, the build
cache and atomic publishing (see docs/architecture.md)."""
