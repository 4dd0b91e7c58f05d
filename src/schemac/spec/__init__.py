"""Spec: see docs/architecture.md."""
