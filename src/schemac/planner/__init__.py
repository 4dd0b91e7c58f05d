"""Plan stage: replay specs in version order, keep the schema as of every version, and list each
version's operations in a safe order.

A spec that lists an existing table gives its whole desired shape; the plan diffs it against the
previous shape. Operations are dialect-neutral; :func:`for_dialect` folds the changes a dialect cannot
make in place into :class:`RebuildTable` operations, each also copying the tables that reference its own.

Modules, in the order a version goes through them:

- :mod:`~schemac.planner.operations`: the operation dataclasses and :class:`VersionPlan`;
- :mod:`~schemac.planner.state`: the schema while planning (:class:`PlanState`) and as of each version;
- :mod:`~schemac.planner.differ`: :func:`plan`, one version at a time, and the per-table diffs;
- :mod:`~schemac.planner.renames`: ``renamed_from`` and ``drop_tables``, resolved and applied;
- :mod:`~schemac.planner.integrity`: foreign keys, object names and creation order, across tables;
- :mod:`~schemac.planner.findings`: how those checks report findings;
- :mod:`~schemac.planner.rebuilds`: :func:`for_dialect` and the table rebuilds it makes.
"""

from schemac.planner.differ import plan
from schemac.planner.operations import (
    AddCheck,
    AddColumn,
    AddForeignKey,
    AlterColumn,
    AlterPrimaryKey,
    CreateIndex,
    CreateTable,
    DropCheck,
    DropColumn,
    DropForeignKey,
    DropIndex,
    DropTable,
    Operation,
    RebuildTable,
    RenameColumn,
    RenameTable,
    ReorderColumns,
    TableChange,
    VersionPlan,
    backs_a_key,
    narrows,
    referenced_columns,
)
from schemac.planner.rebuilds import for_dialect
from schemac.planner.state import PlanState

__all__ = [
    "AddCheck",
    "AddColumn",
    "AddForeignKey",
    "AlterColumn",
    "AlterPrimaryKey",
    "CreateIndex",
    "CreateTable",
    "DropCheck",
    "DropColumn",
    "DropForeignKey",
    "DropIndex",
    "DropTable",
    "Operation",
    "PlanState",
    "RebuildTable",
    "RenameColumn",
    "RenameTable",
    "ReorderColumns",
    "TableChange",
    "VersionPlan",
    "backs_a_key",
    "for_dialect",
    "narrows",
    "plan",
    "referenced_columns",
]
