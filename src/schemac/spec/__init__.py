"""Spec: from a spec file to the dialect-neutral model: reading, validation, names, derived checks, audit
policy and expression safety (see docs/architecture.md)."""
