"""Lint stage: coded rules (SC9xx) over the compiled model, each configurable per project.

Rules read the plans that :func:`~schemac.project.compiler.compile_project` returns (the schema after the
newest version, and every version's operations), never the raw YAML. ``[tool.schemac.lint]`` takes
``enable`` and ``disable`` (lists of rule codes or names) and ``severity`` (rule → error, warning
or off).
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemac import dialects
from schemac.codes import CODES
from schemac.errors import Diagnostic, SchemacError, Severity
from schemac.migrations.manifest import Manifest
from schemac.migrations.published import locate
from schemac.model import IDENTITY_TYPES, Spec, Table, Where
from schemac.planner import (
    AddColumn,
    AlterColumn,
    AlterPrimaryKey,
    CreateIndex,
    CreateTable,
    DropColumn,
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
from schemac.project.compiler import compile_project
from schemac.project.settings import Settings, load_settings, setting_diagnostic
from schemac.render import RENDERERS, dialect_operations, online_kind
from schemac.spec.audit import AUDIT_GROUPS

Hit = tuple[str, Where, str]  # file, line:column, message


@dataclass(frozen=True)
class Model:
    """What the rules see: every version's plan, the spec that last declared each table, and the
    manifest of each dialect's generated files (none when linting plans alone)."""

    plans: tuple[VersionPlan, ...]
    declared_in: Mapping[str, Spec]
    manifests: tuple[Manifest, ...] = ()
    published: frozenset[int] = frozenset()
    """The versions a manifest on disk lists: their data loss was reviewed when they were built."""
    dialect: Callable[[str], dialects.Dialect] = dialects.get
    """Each engine's dialect as the project builds for it (see :meth:`Settings.dialect`)."""
    engines: tuple[str, ...] = ()
    """The engines the project builds for (none when linting plans alone)."""

    @classmethod
    def of(
        cls,
        plans: tuple[VersionPlan, ...],
        manifests: tuple[Manifest, ...] = (),
        published: frozenset[int] = frozenset(),
        dialect: Callable[[str], dialects.Dialect] = dialects.get,
        names: tuple[str, ...] = (),
    ) -> Model:
        declared_in = {table.name: plan.spec for plan in plans for table in plan.spec.tables}
        return cls(plans, declared_in, manifests, published, dialect, names)

    def tables(self) -> Iterator[tuple[Spec, Table]]:
        """The tables of the newest schema, by name, each with the spec that declared its shape."""
        schema = self.plans[-1].schema if self.plans else {}
        for name in sorted(schema):
            yield self.declared_in[name], schema[name]


@dataclass(frozen=True)
class Rule:
    """A lint rule: its code, the hint its findings carry, and the check that finds them.

    Its name and default severity are the code catalog's (:data:`schemac.codes.CODES`), as is what it
    catches; the catalog's fix is Markdown for the documentation, ``fix`` the plain hint printed.
    """

    code: str
    fix: str
    check: Callable[[Model], Iterator[Hit]]

    @property
    def name(self) -> str:
        """The name settings may use instead of the code."""
        return CODES[self.code].rule

    @property
    def default(self) -> Severity | None:
        """The severity a project gets unless it changes it (``None``: off unless enabled)."""
        severity = CODES[self.code].severity
        return None if severity == "off" else severity

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError(f"{self.code} is not a lint rule in schemac.codes.CODES")


def _audit_opt_out(model: Model) -> Iterator[Hit]:
    for spec, table in model.tables():
        if table.audit != AUDIT_GROUPS:
            missing = ", ".join(g for g in AUDIT_GROUPS if g not in table.audit)
            kept = ", ".join(table.audit) or "none"
            key = ("tables", table.name, "audit")
            where = spec.positions.get(key, table.where)  # the audit: key, or the table when the default opts out
            legacy = (
                "; it comes from the baseline spec: a later spec that writes audit: adds them" if table.legacy else ""
            )
            yield spec.file, where, f"table '{table.name}' opts out of audit columns {missing} (keeps: {kept}){legacy}"


def _json_suffix(model: Model) -> Iterator[Hit]:
    for spec, table in model.tables():
        for column in table.columns:
            if column.type.name == "json" and not column.name.endswith("_json"):
                yield spec.file, column.where, f"json column '{table.name}.{column.name}' is not named *_json"


_WEIGHTS = random.Random()
"""Random weights of column names for :class:`_LeadingColumns`: unknown to a spec, so none can make sets collide."""


class _LeadingColumns:
    """Which sets of distinct columns lead a table's primary key or one of its full (not partial) indexes.

    Each prefix of a key, of a length asked about, is filed under that length and a hash of its set of
    names (the sum of a random weight per name), so that asking costs the size of the question, not of
    the table's indexes; a hit is confirmed by comparing the sets.
    """

    def __init__(self, table: Table, lengths: set[int]) -> None:
        self._keys = [list(table.primary_key)]
        self._keys += [[c.name for c in i.columns] for i in table.indexes if i.predicate is None]
        self._weights: dict[str, int] = {}
        self._prefixes: dict[tuple[int, int], list[int]] = {}
        longest = max(lengths, default=0)
        for number, key in enumerate(self._keys):
            seen: set[str] = set()
            total = 0
            for length, name in enumerate(key[:longest], 1):
                if name in seen:  # a repeated column: no longer prefix has distinct columns
                    break
                seen.add(name)
                total += self._weights.setdefault(name, _WEIGHTS.getrandbits(64))
                if length in lengths:
                    self._prefixes.setdefault((length, total), []).append(number)

    def covers(self, columns: tuple[str, ...]) -> bool:
        """Whether a key's first ``len(columns)`` columns are exactly ``columns``, in any order."""
        wanted = set(columns)
        if len(wanted) < len(columns):  # never so for a foreign key (its columns are distinct): ask every key
            return any(set(key[: len(columns)]) == wanted for key in self._keys)
        if not wanted <= self._weights.keys():
            return False
        candidates = self._prefixes.get((len(columns), sum(self._weights[name] for name in wanted)), ())
        return any(set(self._keys[number][: len(columns)]) == wanted for number in candidates)


def _foreign_key_index(model: Model) -> Iterator[Hit]:
    for spec, table in model.tables():
        if not table.foreign_keys:
            continue
        leading = _LeadingColumns(table, {len(fk.columns) for fk in table.foreign_keys})
        for fk in table.foreign_keys:
            if not leading.covers(fk.columns):
                message = f"foreign key {fk.name} ({', '.join(fk.columns)}) has no index that starts with its columns"
                yield spec.file, fk.where, message + " (partial indexes do not count)"


def _primary_key(model: Model) -> Iterator[Hit]:
    for spec, table in model.tables():
        if not table.primary_key:
            yield spec.file, table.where, f"table '{table.name}' has no primary key"


def _data_loss(spec: Spec, operation: Operation, dropped_at: Mapping[str, int]) -> Where | None:
    """Where ``spec`` asks for an operation that loses data (a drop, or a narrowed type), else ``None``.

    ``dropped_at`` gives the position of each name in the spec's ``drop_tables``.
    """
    if isinstance(operation, DropTable):
        return spec.at("drop_tables", dropped_at[operation.table.name])
    if isinstance(operation, DropColumn):
        return spec.at("tables", operation.table, "columns")
    if isinstance(operation, AlterColumn) and narrows(operation.before.type, operation.after.type):
        return spec.at("tables", operation.table, "columns", operation.after.name, "type")
    return None


def _destructive(model: Model) -> Iterator[Hit]:
    """Data loss in each version not published yet (a published one is immutable: nothing left to review)."""
    for plan in model.plans:
        if plan.spec.version in model.published:
            continue
        dropped_at: dict[str, int] = {}
        for i, name in enumerate(plan.spec.drop_tables):
            dropped_at.setdefault(name, i)
        for operation in plan.operations:
            where = _data_loss(plan.spec, operation, dropped_at)
            if where is not None:
                yield plan.spec.file, where, f"version {plan.spec.prefix} loses data: {operation.describe()}"


def _nullable_boolean(model: Model) -> Iterator[Hit]:
    for spec, table in model.tables():
        for column in table.columns:
            if column.type.name == "boolean" and column.nullable:
                yield spec.file, column.where, f"boolean column '{table.name}.{column.name}' is nullable"


def _missing_description(model: Model) -> Iterator[Hit]:
    for spec, table in model.tables():
        if not table.description:
            yield spec.file, table.where, f"table '{table.name}' has no description"
        for column in table.columns:
            if not column.audit and not column.description:
                yield spec.file, column.where, f"column '{table.name}.{column.name}' has no description"


def _replay_unsafe(model: Model) -> Iterator[Hit]:
    """The first version from which a runner that replays every file on each start fails or loses data.

    That is the first file with a statement the renderer marks as not re-runnable (its manifest's
    ``non_idempotent``: a rename, an ALTER, a rebuild), or the first version that creates a table an
    earlier version dropped (replaying that drop would drop the new table with its rows); per dialect,
    as their files differ. Dialects with the same first version share one finding.
    """
    plans = {plan.spec.version: plan for plan in model.plans}
    recreated = _first_recreated_table(model.plans)
    found: dict[int, tuple[list[str], Where, str]] = {}
    for manifest in model.manifests:
        entry = next((e for e in manifest.entries if e.non_idempotent), None)
        if entry is not None and (recreated is None or entry.version < recreated[0]):
            plan = plans[entry.version]
            where, reason = _not_rerunnable(plan, model.dialect(manifest.dialect), entry.non_idempotent[0])
            hazard = (entry.version, where, reason)
        elif recreated is not None:
            hazard = recreated
        else:
            continue
        version, where, reason = hazard
        found.setdefault(version, ([], where, reason))[0].append(manifest.dialect)
    for version, (names, where, reason) in sorted(found.items()):
        which = f" ({', '.join(names)})" if len(model.manifests) > 1 else ""
        file = plans[version].spec.file
        yield file, where, f"replaying every migration file{which} is unsafe from version {version}: {reason}"


def _first_recreated_table(plans: tuple[VersionPlan, ...]) -> tuple[int, Where, str] | None:
    """The first version that creates a table an earlier version dropped, where, and why that is unsafe."""
    dropped_in: dict[str, int] = {}
    for plan in plans:
        for operation in plan.operations:
            if isinstance(operation, CreateTable) and operation.table.name in dropped_in:
                name = operation.table.name
                reason = (
                    f"it creates table '{name}', which version {dropped_in[name]} dropped "
                    f"(a replay of version {dropped_in[name]} would drop the new table with its rows)"
                )
                return plan.spec.version, operation.table.where, reason
        for operation in plan.operations:
            if isinstance(operation, DropTable):
                dropped_in[operation.table.name] = plan.spec.version
    return None


def _not_rerunnable(plan: VersionPlan, dialect: dialects.Dialect, statement: str) -> tuple[Where, str]:
    """Where ``plan`` asks for its first operation that ``dialect`` cannot run twice, and what a replay does
    then; the statement's first line when no operation of the plan made it."""
    spec = plan.spec
    for operation in dialect_operations(plan, dialect):
        if RENDERERS[type(operation)][2]:
            continue
        if isinstance(operation, RenameTable):
            return spec.at("tables", operation.new, "renamed_from"), (
                f"it renames table '{operation.old}' to '{operation.new}' (a replay runs the older files, "
                f"which create '{operation.old}' again, then fails renaming it)"
            )
        if isinstance(operation, RenameColumn):
            return spec.at("tables", operation.table, "columns", operation.new, "renamed_from"), (
                f"it renames column '{operation.table}.{operation.old}' to '{operation.new}' "
                f"(a replay fails: '{operation.old}' is gone)"
            )
        if isinstance(operation, AddColumn):
            return spec.at("tables", operation.table, "columns", operation.column.name), (
                f"it adds column '{operation.table}.{operation.column.name}' (a replay fails: the column exists)"
            )
        if isinstance(operation, DropColumn):
            return spec.at("tables", operation.table, "columns"), (
                f"it drops column '{operation.table}.{operation.column.name}' (a replay fails: the column is gone)"
            )
        if isinstance(operation, RebuildTable):
            return spec.at("tables", operation.rebuilt[0]), (
                f"it rebuilds table '{operation.rebuilt[0]}' by copying its rows (a replay copies them again, "
                f"and once later versions change the table, takes it back to its shape of version {spec.version} "
                "or fails)"
            )
        if isinstance(operation, AlterColumn):
            where = spec.at("tables", operation.table, "columns", operation.after.name)
        else:
            where = spec.at("tables", operation.table) if isinstance(operation, TableChange) else spec.at("tables")
        return where, f"it runs statements that cannot run twice ({operation.describe()})"
    return spec.at("tables"), f"its statement {statement!r} cannot run twice"


def _rowid_key(model: Model) -> Iterator[Hit]:
    """A lone integer key some engines of the project number (``Dialect.rowid_keys``) and others do not: on
    SQLite, that of a table created before plain keys took effect (:meth:`Dialect.rowid_key`)."""
    numbering = [name for name in model.engines if model.dialect(name).rowid_keys]
    others = [name for name in model.engines if name not in numbering]
    if not numbering or not others:
        return
    for spec, table in model.tables():
        column = table.column(table.primary_key[0]) if len(table.primary_key) == 1 else None
        rowid = all(model.dialect(name).rowid_key(table) for name in numbering)
        if column is not None and column.type.name in IDENTITY_TYPES and not column.identity and rowid:
            yield (
                spec.file,
                column.where,
                f"key '{table.name}.{column.name}' numbers itself on {' and '.join(numbering)} when an insert "
                f"leaves it out, not on {' or '.join(others)}",
            )


def _table_rewrite(model: Model) -> Iterator[Hit]:
    """A type change, in a version not published yet, that copies the table on an engine of the project
    (:meth:`~schemac.dialects.Dialect.retype_copies_table`)."""
    engines = [(name, model.dialect(name)) for name in model.engines]
    for plan in model.plans:
        if plan.spec.version in model.published:
            continue
        for op in plan.operations:
            if not isinstance(op, AlterColumn):
                continue
            copying = [name for name, dialect in engines if dialect.retype_copies_table(op.before.type, op.after.type)]
            if copying:
                yield (
                    plan.spec.file,
                    plan.spec.at("tables", op.table, "columns", op.after.name, "type"),
                    f"version {plan.spec.prefix} changes '{op.table}.{op.after.name}' from {op.before.type} to "
                    f"{op.after.type}, which copies every row of '{op.table}' on {' and '.join(copying)}, "
                    "blocking writes to it until done",
                )


def _blocks_despite_lock_safe(model: Model) -> Iterator[Hit]:
    """A change, in a version not published yet, that an engine's lock-safe form (``Dialect.lock_safe``) still
    makes under a lock blocking the table's reads and writes while it works through every row: a primary key
    changed (its index is built under the lock), a column added with a ``uuid`` default (each row is written),
    a unique index that a foreign key added by the same version references (built with the changes, blocking
    writes, as the key needs it)."""
    engines = [name for name in model.engines if model.dialect(name).lock_safe is not None]
    if not engines:
        return
    on = " and ".join(engines)
    for plan in model.plans:
        if plan.spec.version in model.published:
            continue
        referenced = referenced_columns(plan.operations, plan.schema)
        for op in plan.operations:
            if isinstance(op, CreateIndex) and op.table in plan.changed and backs_a_key(op, referenced):
                where = plan.spec.at("tables", op.table, "columns", op.index.columns[0].name)
                message = (
                    f"on {on}, {op.describe()} is built under a lock blocking writes to '{op.table}', "
                    "as a foreign key this version adds references it"
                )
                yield plan.spec.file, where, message
            if isinstance(op, AlterPrimaryKey) and op.before != op.after and op.table in plan.changed:
                where = plan.spec.at("tables", op.table)
                yield plan.spec.file, where, f"on {on}, {op.describe()} builds its index under a lock on '{op.table}'"
            elif isinstance(op, AddColumn) and op.table in plan.changed:
                default = op.column.default
                if default is not None and default.kind == "fn" and default.value == "uuid":
                    where = plan.spec.at("tables", op.table, "columns", op.column.name)
                    message = f"on {on}, {op.describe()} gives a uuid to every row under a lock on '{op.table}'"
                    yield plan.spec.file, where, message


def _cluster_primary_key(model: Model) -> Iterator[Hit]:
    """A table without a primary key in a project built for an engine whose cluster needs one
    (``Dialect.keyed_cluster``)."""
    engines = [model.dialect(name) for name in model.engines]
    clusters = [f"{engine.name} {engine.keyed_cluster}" for engine in engines if engine.keyed_cluster]
    for spec, table in model.tables():
        if clusters and not table.primary_key:
            needing = " or ".join(clusters)
            yield spec.file, table.where, f"table '{table.name}' has no primary key, which a {needing} cluster needs"


def _table_copy(model: Model) -> Iterator[Hit]:
    """Each change of a version not published yet that an engine with an online form (``Dialect.online_clauses``)
    makes only by copying the table, which blocks its writes: a check added to MariaDB, say."""
    for name in model.engines:
        dialect = model.dialect(name)
        if not dialect.online_clauses:
            continue
        for plan in model.plans:
            if plan.spec.version in model.published:
                continue
            for op in dialect_operations(plan, dialect):
                # A whole table made or dropped, a name or nothing changed, or (a column's type) another rule's.
                if isinstance(op, CreateTable | DropTable | RenameTable | RebuildTable | ReorderColumns | AlterColumn):
                    continue
                if dialect.online_clause(online_kind(op, {})) or op.table not in plan.changed:
                    continue
                message = f"on {name}, {op.describe()} copies the table '{op.table}', blocking its writes until done"
                yield plan.spec.file, plan.spec.at("tables", op.table), message


RULES: tuple[Rule, ...] = (
    Rule(
        "SC901",
        "intended for append-only or reference tables: keep the finding visible for auditors, or set audit: full",
        _audit_opt_out,
    ),
    Rule(
        "SC902",
        "rename the column to <name>_json (renamed_from: keeps its data)",
        _json_suffix,
    ),
    Rule(
        "SC903",
        "add a non-partial index whose first columns are the foreign key's columns",
        _foreign_key_index,
    ),
    Rule(
        "SC904",
        "add primary_key: true on one column, or a table-level primary_key: [..]",
        _primary_key,
    ),
    Rule(
        "SC905",
        "make sure the data is no longer needed or has been copied; the finding lists it for review",
        _destructive,
    ),
    Rule(
        "SC906",
        "drop nullable: true and give it a default, or use an enum if a third state is meant",
        _nullable_boolean,
    ),
    Rule(
        "SC907",
        "add description: to the table or column",
        _missing_description,
    ),
    Rule(
        "SC908",
        "apply the files with a runner that records the versions it applied and runs only newer ones "
        "(schemac apply does); disable the rule if no runner replays every file",
        _replay_unsafe,
    ),
    Rule(
        "SC909",
        "add identity: true so that every engine numbers the rows, or always give the key's value",
        _rowid_key,
    ),
    Rule(
        "SC910",
        "on a table that takes writes: add a column of the new type, fill it in batches, then switch to it "
        "in a later version; or apply at a quiet hour",
        _table_rewrite,
    ),
    Rule(
        "SC911",
        "on a table that takes writes: make the change at a quiet hour, or for a new key column add it nullable, "
        "fill it in batches, and make it the key in a later version; make a column unique a version before a "
        "foreign key references it",
        _blocks_despite_lock_safe,
    ),
    Rule(
        "SC912",
        "add primary_key: true on one column, or a table-level primary_key: [..]",
        _cluster_primary_key,
    ),
    Rule(
        "SC913",
        "make the change when the table takes few writes, or disable the rule for tables that stay small",
        _table_copy,
    ),
)

_BY_KEY = {key: rule for rule in RULES for key in (rule.code, rule.name)}
KNOWN_RULES = f"rules are {RULES[0].code}-{RULES[-1].code} or their names, such as {RULES[1].name}"
_SEVERITIES = ("error", "warning", "off")
_LINT_KEYS = ("disable", "enable", "severity")


def rule_severities(settings: Settings) -> dict[str, Severity | None]:
    """Each rule's severity for this project (``None``: off); a bad ``[lint]`` setting raises SC703."""
    raw: Any = settings.raw.get("lint", {})
    found: list[Diagnostic] = []

    def problem(key: str, message: str, hint: str = "") -> None:
        found.append(setting_diagnostic(settings, key, "SC703", message, hint, section="lint"))

    def rule_for(key: str, value: Any) -> Rule | None:
        rule = _BY_KEY.get(value) if isinstance(value, str) else None
        if rule is None:
            close = difflib.get_close_matches(str(value), sorted(_BY_KEY), n=1)
            problem(key, f"unknown lint rule {value!r}", f"did you mean '{close[0]}'?" if close else KNOWN_RULES)
        return rule

    severities: dict[str, Severity | None] = {rule.code: rule.default for rule in RULES}
    if not isinstance(raw, dict):
        problem("lint", "lint must be a table: [tool.schemac.lint]")
        raw = {}
    for key in sorted(set(raw) - set(_LINT_KEYS)):
        problem(key, f"unknown lint setting '{key}'", f"the lint table takes: {', '.join(_LINT_KEYS)}")
    switched: dict[str, str] = {}
    for key in ("enable", "disable"):
        values = raw.get(key, [])
        if not isinstance(values, list):
            problem(key, f"lint {key} must be a list of rule codes or names")
            continue
        for value in values:
            rule = rule_for(key, value)
            if rule is None:
                continue
            if switched.setdefault(rule.code, key) != key:
                problem(key, f"lint rule {rule.code} is both enabled and disabled")
            severities[rule.code] = (rule.default or "warning") if key == "enable" else None
    table = raw.get("severity", {})
    if not isinstance(table, dict):
        problem("severity", 'lint severity must be a table of rule = "error" | "warning" | "off"')
        table = {}
    for name, value in sorted(table.items()):
        rule = rule_for(name, name)
        if rule is not None and value not in _SEVERITIES:
            problem(name, f"lint severity of {name} must be error, warning or off, not {value!r}")
        elif rule is not None:
            severities[rule.code] = None if value == "off" else value
    if found:
        raise SchemacError(found)
    return severities


@dataclass(frozen=True)
class LintResult:
    """Every finding, sorted by file and position, and each rule's severity as configured."""

    findings: tuple[Diagnostic, ...]
    severities: Mapping[str, Severity | None]

    @property
    def errors(self) -> int:
        return sum(d.severity == "error" for d in self.findings)

    @property
    def warnings(self) -> int:
        return sum(d.severity == "warning" for d in self.findings)

    @property
    def ok(self) -> bool:
        """True when nothing has error severity (warnings alone do not fail)."""
        return self.errors == 0


def lint_plans(
    plans: tuple[VersionPlan, ...],
    severities: Mapping[str, Severity | None],
    manifests: tuple[Manifest, ...] = (),
    published: frozenset[int] = frozenset(),
    dialect: Callable[[str], dialects.Dialect] = dialects.get,
    names: tuple[str, ...] = (),
) -> list[Diagnostic]:
    """Run every enabled rule over compiled plans (and the manifests of their generated files, and the
    versions the manifests on disk list), each engine's files as ``dialect`` renders them; ``names``: the
    engines the project builds for."""
    model = Model.of(plans, manifests, published, dialect, names)
    found = []
    for rule in RULES:
        severity = severities.get(rule.code)
        if severity is None:
            continue
        for file, (line, column), message in rule.check(model):
            found.append(Diagnostic(file, line, column, rule.code, message, rule.fix, severity))
    return sorted(set(found))


def lint(project: str | Path = ".") -> LintResult:
    """Compile the project in memory and run the lint rules; raises on invalid specs or settings."""
    settings = load_settings(Path(project))
    severities = rule_severities(settings)
    compiled = compile_project(settings)
    manifests = tuple(output.manifest for output in compiled.outputs)
    dialect = compiled.settings.dialect  # resolved: where plain keys took effect
    found = lint_plans(compiled.plans, severities, manifests, _published(settings), dialect, settings.dialects)
    return LintResult(tuple(found), severities)


def _published(settings: Settings) -> frozenset[int]:
    """The versions the manifests on disk list; a manifest that cannot be read lists none (``check`` says why)."""
    found: set[int] = set()
    for name in settings.dialects:
        try:
            manifest = locate(settings, name).manifest
        except SchemacError:
            continue
        if manifest is not None:
            found.update(entry.version for entry in manifest.entries)
    return frozenset(found)
