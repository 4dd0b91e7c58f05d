"""schemac: compile YAML table specs into immutable, numbered, checksummed SQL migrations, and apply them.

Every CLI verb is a function here (``schemac.build(project)``, ``schemac.check(project)``, …)
returning a result object or raising :class:`SchemacError` with located diagnostics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .applier import ApplyResult, StatusResult, apply, status
    from .commands import build, check, init, new, validate
    from .errors import Diagnostic, SchemacError
    from .loader import Migration, load_migrations
    from .verifier import VerifyResult, verify

_EXPORTS = {
    "build": "commands",
    "check": "commands",
    "init": "commands",
    "new": "commands",
    "validate": "commands",
    "Diagnostic": "errors",
    "SchemacError": "errors",
    "Migration": "loader",
    "load_migrations": "loader",
    "apply": "applier",
    "status": "applier",
    "ApplyResult": "applier",
    "StatusResult": "applier",
    "verify": "verifier",
    "VerifyResult": "verifier",
}

__all__ = [
    "ApplyResult",
    "Diagnostic",
    "Migration",
    "SchemacError",
    "StatusResult",
    "VerifyResult",
    "apply",
    "build",
    "check",
    "init",
    "load_migrations",
    "new",
    "status",
    "validate",
    "verify",
]


def __getattr__(name: str) -> Any:
    """Import on first use, so that ``import schemac`` (and the CLI) start fast."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'schemac' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
