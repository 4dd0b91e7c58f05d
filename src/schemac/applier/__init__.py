"""Apply stage: run pending migrations against a database, one transaction each, and report status.

Every migration runs with its history row in one transaction where the engine has transactional
DDL (SQLite, PostgreSQL). MariaDB commits each DDL statement on its own, so there the applier
records after every statement how far it got, and a rerun resumes after the last one recorded.

The stage's modules: :mod:`~schemac.applier.runner` (``apply``), :mod:`~schemac.applier.states`
(``status``, and what ``apply`` reads before it runs), :mod:`~schemac.applier.records` (schemac's
own tables), :mod:`~schemac.applier.statements` (statement splitting, the live schema),
:mod:`~schemac.applier.verification` (``verify``), :mod:`~schemac.applier.baselining` (``baseline``),
:mod:`~schemac.applier.standby` (PostgreSQL standbys: the writers refuse them, the readers report their lag).
"""

from __future__ import annotations

from schemac.applier.records import DEFAULT_LOCK_TIMEOUT
from schemac.applier.runner import AppliedMigration, ApplyResult, apply
from schemac.applier.statements import LiveSchema, Statement, split_statements
from schemac.applier.states import StatusEntry, StatusResult, status

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "AppliedMigration",
    "ApplyResult",
    "LiveSchema",
    "Statement",
    "StatusEntry",
    "StatusResult",
    "apply",
    "split_statements",
    "status",
]
