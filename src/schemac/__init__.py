"""schemac: compile YAML table specs into immutable, numbered, checksummed SQL migrations, and apply them.

Every CLI verb is a function here (``schemac.build(project)``, ``schemac.check(project)``,
``schemac.lint(project)``, ``schemac.docs(project)``, …) returning a result object or raising
:class:`SchemacError` with located diagnostics.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing would cost the CLI's start-up
if TYPE_CHECKING:
    from typing import Any

    from schemac.api import (
        AdoptResult,
        PlannedVersion,
        RebaseResult,
        adopt,
        build,
        check,
        init,
        new,
        plan_changes,
        rebase,
        schema,
        validate,
    )
    from schemac.applier import ApplyResult, StatusResult, apply, status
    from schemac.applier.baselining import BaselineResult, baseline
    from schemac.applier.verification import VerifyResult, verify
    from schemac.datadict import DocsResult, docs
    from schemac.errors import Diagnostic, SchemacError
    from schemac.importing.importer import ImportResult, import_spec
    from schemac.migrations.loader import Migration, load_migrations
    from schemac.project.environments import environment_url
    from schemac.rules import LintResult, lint

_EXPORTS = {
    "adopt": "api",
    "AdoptResult": "api",
    "build": "api",
    "check": "api",
    "init": "api",
    "new": "api",
    "schema": "api",
    "validate": "api",
    "plan_changes": "api",
    "PlannedVersion": "api",
    "rebase": "api",
    "RebaseResult": "api",
    "DocsResult": "datadict",
    "docs": "datadict",
    "Diagnostic": "errors",
    "SchemacError": "errors",
    "LintResult": "rules",
    "lint": "rules",
    "Migration": "migrations.loader",
    "load_migrations": "migrations.loader",
    "apply": "applier",
    "status": "applier",
    "ApplyResult": "applier",
    "StatusResult": "applier",
    "verify": "applier.verification",
    "baseline": "applier.baselining",
    "BaselineResult": "applier.baselining",
    "VerifyResult": "applier.verification",
    "import_spec": "importing.importer",
    "ImportResult": "importing.importer",
    "environment_url": "project.environments",
}

__all__ = [
    "AdoptResult",
    "ApplyResult",
    "BaselineResult",
    "Diagnostic",
    "DocsResult",
    "ImportResult",
    "LintResult",
    "Migration",
    "PlannedVersion",
    "RebaseResult",
    "SchemacError",
    "StatusResult",
    "VerifyResult",
    "adopt",
    "apply",
    "baseline",
    "build",
    "check",
    "docs",
    "environment_url",
    "import_spec",
    "init",
    "lint",
    "load_migrations",
    "new",
    "plan_changes",
    "rebase",
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
