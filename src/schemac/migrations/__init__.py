"""Migrations: the published files, their manifest, drift between them and the specs, the loader and
the published history at a git ref (see docs/architecture.md)."""
