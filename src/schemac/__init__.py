"""schemac: compile YAML table specs into immutable, numbered, checksummed SQL migrations, and apply them.

Every CLI verb is a function here (``schemac.build(project)``, ``schemac.check(project)``,
``schemac.lint(project)``, ``schemac.docs(project)``, …) returning a result object or raising
:class:`SchemacError` with located diagnostics.
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost the CLI's start-up
if TYPE_CHECKING:
    from typing import Any

    from .applier import ApplyResult, StatusResult, apply, status
    from .commands import PlannedVersion, build, check, init, new, plan_changes, schema, validate
    from .docs import DocsResult, docs
    from .errors import Diagnostic, SchemacError
    from .lint import LintResult, lint
    from .loader import Migration, load_migrations
    from .verifier import VerifyResult, verify

_EXPORTS = {
    "build": "commands",
    "check": "commands",
    "init": "commands",
    "new": "commands",
    "schema": "commands",
    "validate": "commands",
    "plan_changes": "commands",
    "PlannedVersion": "commands",
    "DocsResult": "docs",
    "docs": "docs",
    "Diagnostic": "errors",
    "SchemacError": "errors",
    "LintResult": "lint",
    "lint": "lint",
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
    "DocsResult",
    "LintResult",
    "Migration",
    "PlannedVersion",
    "SchemacError",
    "StatusResult",
    "VerifyResult",
    "apply",
    "build",
    "check",
    "docs",
    "init",
    "lint",
    "load_migrations",
    "new",
    "plan_changes",
    "schema",
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


class _Package(types.ModuleType):
    """Keeps ``schemac.validate`` the verb: importing the submodule of the same name would rebind it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["schemac.validate"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
