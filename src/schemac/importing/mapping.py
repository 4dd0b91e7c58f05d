"""A :class:`~schemac.importing.catalog.Catalog` as the tables of a spec (:class:`schemac.model.Table`).

Each column gets the logical type its engine type maps to (:mod:`schemac.importing.types`), refined by
the checks the dialect derives for a type (a SQLite ``INTEGER`` with its ``ck_<table>_<column>_bool``
check is a boolean); an enum check ``col IN ('a', 'b')`` becomes ``enum``; a default becomes a YAML
scalar where the dialect writes that scalar back as the engine shows the default, else ``{sql: …}``.
Checks schemac derives are not imported as checks of their own. Audit columns that are exactly what an
audit policy adds fold into that policy (not in a baseline, where no policy applies).

Every choice is confirmed the way ``verify`` compares: the candidate tables are made as temporary
tables of the importing session (:meth:`~schemac.dialects.base.Database.definitions`) and each check
and default is compared, as the engine shows it, with the live one; where one differs the importer
falls back (a plain type and the check kept as a check, an ``{sql: …}`` default, no audit policy) and
asks again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from schemac.applier.verification import (
    _ESCAPES,
    Normalise,
    _literal_values,
    catalog_type,
    check_table_body,
    expected_checks,
)
from schemac.dialects import Dialect
from schemac.dialects.base import Shown, TableBody
from schemac.dialects.sqltokens import tokens
from schemac.errors import Diagnostic
from schemac.importing.catalog import Catalog, ImportedColumn, ImportedTable, Unsupported
from schemac.importing.types import NAME_HINTS, NEEDS_CHECK, PLAIN, exact_types, nearest_type
from schemac.model import (
    IDENTITY_TYPES,
    PORTABLE_DEFAULTS,
    Check,
    Column,
    ColumnType,
    Default,
    ForeignKey,
    Index,
    IndexColumn,
    Table,
    portable_default_fits,
)
from schemac.spec.audit import AUDIT_COLUMNS, AUDIT_GROUPS, audit_column_names, with_audit, with_time_defaults
from schemac.spec.checks import audit_check, derived_checks
from schemac.spec.expressions import scan_expression
from schemac.spec.names import CHECK_SUFFIXES, derived_check_name, foreign_key_name, identifier_problem, index_name
from schemac.spec.reader import _default_problem

MAX_ROUNDS = 8
"""Rounds of asking the engine; each falls back from at least one choice, so few are ever needed."""

_LENGTH = re.compile(r".*<=\s*\(?\s*([0-9]+)\s*\)?\s*", re.DOTALL)
_INTEGER = re.compile(r"[-+]?[0-9]+")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
_CAST = re.compile(r"(?P<value>.*?)(?:::[a-z_][a-z0-9_ ]*(?:\([0-9, ]+\))?(?:\[\])?)+", re.DOTALL)
_STRING = re.compile(r"(?P<prefix>[Nn]?)'(?P<body>(?:[^']|'')*)'", re.DOTALL)
_ESCAPED_STRING = re.compile(r"(?P<prefix>[EeNn]?)'(?P<body>(?:[^'\\]|''|\\.)*)'", re.DOTALL)
"""A string literal that takes backslash escapes: MariaDB's, PostgreSQL's ``E'…'``."""
_NO_VALUE = object()


@dataclass(frozen=True)
class Options:
    baseline: bool
    audit_default: tuple[str, ...]
    source: str
    """The database as findings name it (its URL with passwords masked, or the SQL directory)."""
    time_defaults: bool = False
    """Whether the project's audit policy gives ``created_at`` and ``updated_at`` their defaults
    (``[audit] defaults = true``): a table's audit columns fold into the policy only with those."""


@dataclass
class _ColumnChoice:
    """The choices for one column, from the most specific; fallbacks move along them."""

    live: ImportedColumn
    types: list[ColumnType]
    approximate: bool
    enum: tuple[str | int, ...] = ()
    literal_default: bool = True
    """Whether to try the default as a YAML scalar (an ``{sql: …}`` default otherwise)."""

    @property
    def ctype(self) -> ColumnType:
        return self.types[0]


@dataclass
class _TableChoice:
    live: ImportedTable
    columns: list[_ColumnChoice]
    audit: tuple[str, ...] | None
    """The audit groups to fold into a policy (None: the audit columns, if any, stay columns)."""
    table: Table = field(init=False)
    """The table as the spec declares it (folded audit columns left out), rebuilt each round."""
    audited: Table = field(init=False)
    """``table`` with the audit columns of its policy, as the migrations make it."""


@dataclass
class Mapped:
    tables: list[Table]
    """As the spec declares them: audit columns left out where ``audit`` says which groups fold."""
    warnings: list[Diagnostic]
    errors: list[Diagnostic]


_NOT_DERIVED: Mapping[str, str | None] = MappingProxyType(dict.fromkeys(CHECK_SUFFIXES))
"""A column no check is named after as derived from it."""


def _derived_by_column(live: ImportedTable) -> dict[str, Mapping[str, str | None]]:
    """For each column some check of ``live`` is named after as derived from it (``ck_<table>_<column>_<suffix>``,
    :func:`~schemac.spec.names.derived_check_name`): the body of each such check by kind. Each check's name is
    read once, rather than four names made for every column."""
    prefix = f"ck_{live.name}_"
    found: dict[str, dict[str, str | None]] = {}
    for name, body in live.checks:
        if not name.startswith(prefix):
            continue
        for kind, suffix in CHECK_SUFFIXES.items():
            column = name[len(prefix) : -len(suffix) - 1]
            if name.endswith(f"_{suffix}") and column and derived_check_name(live.name, column, kind) == name:
                found.setdefault(column, dict(_NOT_DERIVED))[kind] = body
    return dict(found)


def map_catalog(catalog: Catalog, dialect: Dialect, options: Options, normalise: Normalise | None) -> Mapped:
    """The spec's tables for ``catalog``, with a warning for everything not imported as it is and an error
    for every table that only a baseline can describe (without ``options.baseline``)."""
    mapper = _Mapper(dialect, options)
    choices = [mapper.choose(table) for table in catalog.tables]
    _align_references(choices)
    pending = choices  # the tables whose choices the engine has not confirmed yet
    unworded = False  # the engine was asked, and could not say
    for _ in range(MAX_ROUNDS):
        for choice in pending:
            mapper.rebuild(choice)
        shown = normalise({c.live.name: mapper.probe_body(c) for c in pending}) if normalise and pending else None
        unworded |= bool(normalise and pending) and shown is None
        pending = [choice for choice in pending if mapper.fall_back(choice, shown)]
        if not pending:
            break
    for choice in pending:  # still moving after the last round: as they stand now
        mapper.rebuild(choice)
    for choice in choices:
        mapper.report(choice)
    warnings = [mapper.unsupported(item) for item in catalog.unsupported] + mapper.warnings
    warnings += [mapper.not_worded()] if unworded else []
    return Mapped([c.table for c in choices], warnings, mapper.errors)


class _Mapper:
    def __init__(self, dialect: Dialect, options: Options) -> None:
        self.dialect = dialect
        self.options = options
        self.warnings: list[Diagnostic] = []
        self.errors: list[Diagnostic] = []
        self.chosen: dict[tuple[object, ...], tuple[tuple[ColumnType, ...], bool, tuple[str | int, ...]]] = {}

    def at(self, code: str, message: str, hint: str = "") -> Diagnostic:
        return Diagnostic(self.options.source, 1, 1, code, message, hint, "warning")

    def not_worded(self) -> Diagnostic:
        """SC643: checks and defaults are compared as the catalog shows them, as the session cannot make the
        temporary table in which the engine words them; a check or default may then not be recognised."""
        return self.at(
            "SC643",
            f"check bodies and defaults not compared: {self.options.source} cannot create the temporary table "
            "in which the engine words them, so each was read as the catalog shows it",
            "import from the primary, in a session that is not read-only, with a role that may create temporary "
            "tables: a derived or audit check may otherwise not be recognised",
        )

    def unsupported(self, item: Unsupported) -> Diagnostic:
        article = "an" if item.kind[:1] in "aeiou" and not item.kind.startswith("uni") else "a"
        detail = f" ({item.detail})" if item.detail else ""
        cannot = f"a spec cannot express {article} {item.kind}{detail}"
        if item.kept is not None:
            return self.at(
                "SC615",
                f"{item.kind} '{item.name}' is imported {item.kept}: {cannot}",
                "what the spec leaves out stays in the database as it is; schemac neither makes nor verifies it",
            )
        return self.at(
            "SC615",
            f"{item.kind} '{item.name}' is not imported: {cannot}",
            "it stays in the database as it is; schemac neither makes nor verifies it",
        )

    # --- first choices -------------------------------------------------------------------------

    def choose(self, live: ImportedTable) -> _TableChoice:
        keyed = set(live.primary_key)
        keyed.update(c for _, cols in live.uniques for c in cols)
        keyed.update(c for index in live.indexes for c, _ in index.columns)
        keyed.update(c for fk in live.foreign_keys for c in fk.columns)
        derived = _derived_by_column(live)
        lone = live.primary_key[0] if len(live.primary_key) == 1 else None
        columns = [
            self.choose_column(c, c.name in keyed, derived.get(c.name, _NOT_DERIVED), c.name == lone)
            for c in live.columns
        ]
        audit = None if self.options.baseline else self.audit_groups(live)
        return _TableChoice(live, columns, audit)

    def choose_column(
        self, live: ImportedColumn, keyed: bool, derived: Mapping[str, str | None], lone_key: bool = False
    ) -> _ColumnChoice:
        """``derived``: the body of each check named as one derived from the column (by kind, None where
        there is none); ``lone_key``: the column is the table's single-column key, which SQLite writes
        ``BIGINT`` (:attr:`~schemac.dialects.base.Dialect.plain_key_types`) when it does not number itself."""
        key = (live, keyed, lone_key, *derived.values())
        known = self.chosen.get(key)
        if known is None:  # a column like one already chosen for (same everything) has the same choices
            known = self.chosen[key] = self.column_choices(live, keyed, derived, lone_key)
        types, approximate, enum = known
        return _ColumnChoice(live, list(types), approximate, enum)

    def column_choices(
        self, live: ImportedColumn, keyed: bool, derived: Mapping[str, str | None], lone_key: bool
    ) -> tuple[tuple[ColumnType, ...], bool, tuple[str | int, ...]]:
        """The types a column may have (the likeliest first), whether they only approximate its engine
        type, and its enum values: what :meth:`choose_column` gives, from the column's derived checks."""
        plain = [n for n, t in self.dialect.plain_key_types.items() if lone_key and t.lower() == live.type]
        plain.sort(key=lambda name: name != live.type)  # bigint first for BIGINT
        exact = [ColumnType(n) for n in plain] or exact_types(self.dialect, live.type, keyed)
        approximate = not exact
        candidates = exact or [nearest_type(self.dialect, live.type)]
        usable: list[ColumnType] = []
        for ctype in candidates:
            kind = NEEDS_CHECK.get(ctype.name)
            if kind is not None and kind in self.dialect.check_templates:
                body = derived[kind]
                if body is None:
                    continue  # the engine type alone does not tell it apart
                if ctype.name == "string" and ctype.length is None:
                    length = _LENGTH.fullmatch(body)
                    if length is None or not 1 <= int(length.group(1)) <= 99999:
                        continue
                    ctype = ColumnType("string", int(length.group(1)))
                usable.insert(len([u for u in usable if u.name in NEEDS_CHECK]), ctype)  # checked types first
            elif ctype.name == "string" and ctype.length is None:
                continue
            else:
                usable.append(ctype)
        if not usable:  # the nearest type, or its plain type where the dialect would derive a check it lacks
            nearest = nearest_type(self.dialect, live.type)
            kind = NEEDS_CHECK.get(nearest.name)
            if kind is not None and kind in self.dialect.check_templates and derived[kind] is None:
                nearest = PLAIN[nearest.name]
            usable, approximate = [nearest], True
        usable = self.hinted(live, usable)
        enum: tuple[str | int, ...] = ()
        if derived["enum"] is not None:
            enum = self.enum_values(derived["enum"], usable[0])
        return tuple(usable), approximate, enum

    def hinted(self, live: ImportedColumn, types: list[ColumnType]) -> list[ColumnType]:
        """``types`` with the one the column's name suggests first, unless a checked type is already
        first or the default does not fit it."""
        if NEEDS_CHECK.get(types[0].name) and types[0].name in self.dialect.check_templates:
            return types
        for suffix, name in NAME_HINTS:
            if not live.name.endswith(suffix):
                continue
            hinted = next((t for t in types if t.name == name), None)
            if hinted is not None and self.default_for(live, hinted, ()) is not _NO_VALUE:
                return [hinted, *(t for t in types if t is not hinted)]
        return types

    def enum_values(self, body: str, ctype: ColumnType) -> tuple[str | int, ...]:
        if not (ctype.is_text or ctype.is_integer):
            return ()
        values = tuple(_literal_values(body, self.dialect, ctype.is_integer))
        if not values or len(set(values)) != len(values):
            return ()
        return values

    def audit_groups(self, live: ImportedTable) -> tuple[str, ...] | None:
        """The audit groups whose columns, and only those, the table has by name (None: some other set
        of audit-named columns, which no policy gives)."""
        present = {c.name for c in live.columns} & set(AUDIT_COLUMNS)
        groups = tuple(g for g in AUDIT_GROUPS if set(audit_column_names((g,))) <= present)
        return groups if present == set(audit_column_names(groups)) else None

    # --- the table as the spec would declare it -------------------------------------------------

    def default_for(
        self, live: ImportedColumn, ctype: ColumnType, enum: tuple[str | int, ...], literal: bool = True
    ) -> Default | object | None:
        """The column's default as the spec would give it: a literal where the live default is one that
        fits ``ctype`` (``_NO_VALUE`` where it is a literal that does not), a portable function where it is
        the dialect's SQL for one, else ``{sql: …}``."""
        text = live.default
        if text is None:
            return None
        if not literal:
            return Default("sql", text)
        value = _literal(text, self.dialect)
        if value is _NO_VALUE:
            return _portable(text, ctype, self.dialect) or Default("sql", text)
        return _fitted(value, ctype, live.nullable, enum)

    def identity(self, live: ImportedTable, c: _ColumnChoice) -> bool:
        """Whether a column the engine numbers is the table's single integer or bigint key, NOT NULL and
        without enum (an ``identity: true`` one); if not, its numbering is reported as not imported."""
        if not c.live.identity:
            return False
        where = f"{live.name}.{c.live.name}"
        fits = live.primary_key == (c.live.name,) and c.ctype.name in IDENTITY_TYPES
        if fits and not c.live.nullable and not c.enum:
            if c.live.identity.startswith("generated always"):
                self.warnings.append(self.unsupported(Unsupported("identity generated always", where, c.live.identity)))
            return True
        if c.live.identity != "rowid alias":  # SQLite numbers such a key whatever the spec says
            self.warnings.append(self.unsupported(Unsupported("identity column", where, c.live.identity)))
        return False

    def build(self, choice: _TableChoice) -> Table:
        live = choice.live
        folded = choice.audit is not None
        names = set(audit_column_names(choice.audit or ()))
        columns = []
        for c in choice.columns:
            if folded and c.live.name in names:
                continue
            identity = self.identity(live, c)
            default = None if identity else self.default_for(c.live, c.ctype, c.enum, c.literal_default)
            if default is _NO_VALUE:
                default = Default("sql", c.live.default or "")
            assert default is None or isinstance(default, Default)
            if default is not None and default.kind == "sql":
                text = str(default.value)
                default = None if scan_expression(text) is not None else Default("sql", self.portable(text))
            columns.append(
                Column(
                    c.live.name,
                    c.ctype,
                    c.live.nullable,
                    default,
                    c.enum,
                    c.live.comment,
                    audit=False,
                    identity=identity,
                )
            )
        derived_names = {d.name for c in columns for d in derived_checks(live.name, c, self.dialect)}
        audit_names = {audit_check(live.name, g).name for g in choice.audit or ()}
        checks = []
        for name, expression in live.checks:
            if not name or name in derived_names or name in audit_names:
                continue
            if identifier_problem(name) is None and scan_expression(expression) is None:
                checks.append(Check(name, self.portable(expression)))  # not ck_<table>_…: the spec names it
        indexes = [
            Index(
                name if not name.startswith("sqlite_autoindex_") else index_name(live.name, cols, unique=True),
                tuple(IndexColumn(c) for c in cols),
                True,
            )
            for name, cols in live.uniques
        ]
        for index in live.indexes:
            if index.where is not None and scan_expression(index.where) is not None:
                continue
            where = self.portable(index.where) if index.where is not None else None
            indexes.append(Index(index.name, tuple(IndexColumn(c, d) for c, d in index.columns), index.unique, where))
        keys = [
            ForeignKey(
                fk.name or foreign_key_name(live.name, fk.columns),
                fk.columns,
                fk.ref_table,
                fk.ref_columns,
                None if fk.on_delete == self.dialect.fk_default_action else fk.on_delete,  # type: ignore[arg-type]
                None if fk.on_update == self.dialect.fk_default_action else fk.on_update,  # type: ignore[arg-type]
            )
            for fk in live.foreign_keys
        ]
        table = Table(
            live.name,
            tuple(columns),
            live.primary_key,
            tuple(indexes),
            tuple(checks),
            tuple(keys),
            live.comment or f"Imported from {self.options.source}.",
            choice.audit or (),
            legacy=self.options.baseline,
        )
        return table

    def portable(self, expression: str) -> str:
        """``expression`` without the backquotes around plain names (MariaDB shows ```col` > 0``), so that
        the spec builds for every engine; the engine shows the result as it showed the original."""
        if self.dialect.quote != "`":
            return expression
        parts, at = [], 0
        for token in tokens(expression):
            if token.kind == "quoted" and token.text[0] == "`" and identifier_problem(token.name) is None:
                parts += [expression[at : token.start], token.name]
                at = token.end
        return "".join(parts) + expression[at:]

    def audited(self, table: Table) -> Table:
        """``table`` with the audit columns its policy gives, as the project's migrations make them."""
        audited = with_audit(table)
        return with_time_defaults(audited) if self.options.time_defaults else audited

    def rebuild(self, choice: _TableChoice) -> None:
        """The candidate's table for its choices as they stand (:meth:`build`), with and without its audit columns."""
        choice.table = self.build(choice)
        choice.audited = self.audited(choice.table)

    def probe_body(self, choice: _TableChoice) -> TableBody:
        """What a CREATE TABLE of the candidate holds, with the checks the live table has by name."""
        table = choice.audited
        live = {name for name, _ in choice.live.checks if name}
        return check_table_body(
            table, self.dialect, [c for c in expected_checks(table, self.dialect) if c.name in live]
        )

    # --- what the engine says ---------------------------------------------------------------------

    def fall_back(self, choice: _TableChoice, shown: Mapping[str, Shown] | None) -> bool:
        """Move each choice the engine shows differently from the live table to its next choice; whether
        anything moved."""
        table = choice.audited
        live_checks = {name: body for name, body in choice.live.checks if name}
        seen = shown.get(choice.live.name) if shown is not None else None
        by_name = {c.live.name: c for c in choice.columns}
        moved = False

        def same_check(name: str, expression: str) -> bool:
            if name not in live_checks:
                return False
            if seen is not None and name in seen.checks:
                return seen.checks[name] == f"CHECK ({live_checks[name]})"
            return live_checks[name] == expression

        for check in expected_checks(table, self.dialect):
            if same_check(check.name, check.expression):
                continue
            owner = next((c for c in table.columns if check.name in _derived(table, c, self.dialect)), None)
            if owner is not None and owner.name in by_name and not owner.audit:
                moved |= self.widen(by_name[owner.name], _derived(table, owner, self.dialect)[check.name])
            elif choice.audit and check.name in {audit_check(table.name, g).name for g in choice.audit}:
                choice.audit, moved = None, True
        if choice.audit:
            moved |= self.audit_mismatch(choice, table, seen)
        for column in table.columns:
            c = by_name.get(column.name)
            if c is None or column.default is None or column.default.kind == "sql" or not c.literal_default:
                continue
            if self.shown_default(column, seen) != c.live.default:
                c.literal_default, moved = False, True
        return moved

    def widen(self, column: _ColumnChoice, kind: str) -> bool:
        """Give up what made the dialect derive a check of ``kind`` for the column: its enum, or its type
        for the next one the engine type allows (at the end, the plain type of :data:`PLAIN`)."""
        if kind == "enum" and column.enum:
            column.enum = ()
        elif len(column.types) > 1:
            column.types = column.types[1:]
        else:
            column.types, column.approximate = [PLAIN.get(column.ctype.name, ColumnType("text"))], True
        return True

    def shown_default(self, column: Column, seen: Shown | None) -> str | None:
        """``column``'s default (it has one) as the engine shows it: as ``seen`` says, where it was asked,
        else as written."""
        return seen.defaults.get(column.name) if seen is not None else _shown_default(column, self.dialect)

    def audit_mismatch(self, choice: _TableChoice, table: Table, seen: Shown | None) -> bool:
        """Fold no policy when an audit column's type, nullability or default is not the one it gives
        (``seen``: how the engine shows the table's defaults, where it was asked)."""
        keyed = {c for index in table.indexes for c in (i.name for i in index.columns)}
        keyed |= set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
        live = {c.name: c for c in choice.live.columns}
        for column in table.columns:
            if not column.audit:
                continue
            have = live.get(column.name)
            wanted = catalog_type(self.dialect, self.dialect.sql_type(column.type, column.name in keyed))
            default = self.shown_default(column, seen) if column.default is not None else None
            if have is None or have.type != wanted or have.nullable != column.nullable or have.default != default:
                choice.audit = None
                return True
        return False

    # --- findings -----------------------------------------------------------------------------------

    def report(self, choice: _TableChoice) -> None:
        live, table = choice.live, choice.table
        name = live.name
        derived = {d.name for c in table.columns for d in derived_checks(name, c, self.dialect)}
        audit = {audit_check(name, g).name for g in table.audit}
        declared = {c.name for c in table.checks}
        for check_name_, expression in live.checks:
            if not check_name_:
                self.warnings.append(
                    self.unsupported(Unsupported("unnamed check", name, f"CHECK ({' '.join(expression.split())})"))
                )
            elif check_name_ in derived or check_name_ in audit or check_name_ in declared:
                continue
            elif identifier_problem(check_name_) is not None:
                detail = f"on {name}: a spec names a constraint with lowercase letters, digits and _"
                self.warnings.append(self.unsupported(Unsupported("check", check_name_, detail)))
            else:
                problem = scan_expression(expression)
                self.warnings.append(self.unsupported(Unsupported("check", check_name_, f"on {name}: it {problem}")))
        for index in live.indexes:
            problem = scan_expression(index.where) if index.where is not None else None
            if problem is not None:
                self.warnings.append(self.unsupported(Unsupported("partial index", index.name, f"its WHERE {problem}")))
        defaults = {c.name: c.default for c in table.columns if not c.identity}  # an identity's is its numbering
        for c in choice.columns:
            if c.live.default is not None and c.live.name in defaults and defaults[c.live.name] is None:
                problem = scan_expression(c.live.default)
                detail = f"DEFAULT {' '.join(c.live.default.split())}: it {problem}"
                self.warnings.append(self.unsupported(Unsupported("default", f"{name}.{c.live.name}", detail)))
        for c in choice.columns:
            if c.approximate and (choice.audit is None or c.live.name not in audit_column_names(choice.audit)):
                self.warnings.append(
                    self.at(
                        "SC617",
                        f"column '{name}.{c.live.name}' is {c.live.type or 'untyped'}, which no logical type gives on "
                        f"{self.dialect.name}: imported as {c.ctype}",
                        f"verify will report the difference until the column is {self.dialect.name}'s type for "
                        f"{c.ctype}",
                    )
                )
        if self.options.baseline:
            return
        why = []
        if choice.audit is None:
            present = [c.name for c in live.columns if c.name in AUDIT_COLUMNS]
            why.append(f"its audit columns ({', '.join(present)}) are not those an audit policy adds")
        nullable = [c for c in live.primary_key if any(x.name == c and x.nullable for x in live.columns)]
        if nullable:
            why.append(f"its primary key column{'s' if len(nullable) > 1 else ''} {', '.join(nullable)} can hold NULL")
        if why:
            self.errors.append(
                Diagnostic(
                    self.options.source,
                    1,
                    1,
                    "SC616",
                    f"table '{name}' can only be described by a baseline spec: {' and '.join(why)}",
                    "import with --baseline, or leave the table out with --tables",
                )
            )


def _align_references(choices: list[_TableChoice]) -> None:
    """Give a referencing column the type of the column it references where its engine type allows that type
    too (SQLite writes ``integer`` and ``bigint`` alike, but a plain key ``BIGINT``): a foreign key joins
    columns of one type."""
    columns = {(t.live.name, c.live.name): c for t in choices for c in t.columns}
    for choice in choices:
        for fk in choice.live.foreign_keys:
            for mine, theirs in zip(fk.columns, fk.ref_columns, strict=False):
                column, target = columns.get((choice.live.name, mine)), columns.get((fk.ref_table, theirs))
                if column is not None and target is not None and target.ctype in column.types[1:]:
                    column.types = [target.ctype, *(t for t in column.types if t != target.ctype)]


def _derived(table: Table, column: Column, dialect: Dialect) -> dict[str, str]:
    """Name → kind of each check ``dialect`` derives for ``column``."""
    return {d.name: d.kind for d in derived_checks(table.name, column, dialect)}


def _portable(text: str, ctype: ColumnType, dialect: Dialect) -> Default | None:
    """``{fn: NAME}`` when ``text`` is how ``dialect`` writes that function for ``ctype`` (parentheses
    around it and letter case aside: MariaDB shows ``(UUID())`` as ``uuid()``)."""
    shown = _unwrapped(text).lower()
    for name in PORTABLE_DEFAULTS:
        written = dialect.default(Default("fn", name), ctype) if portable_default_fits(name, ctype) else None
        if written is not None and _unwrapped(written).lower() == shown:
            return Default("fn", name)
    return None


def _unwrapped(text: str) -> str:
    """``text`` without blanks and parentheses around the whole of it."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _shown_default(column: Column, dialect: Dialect) -> str:
    """How a column's default is shown when the engine cannot be asked: as written, outer parentheses removed."""
    assert column.default is not None
    text = dialect.default(column.default, column.type)
    return text[1:-1] if column.default.kind == "sql" else text


def _literal(text: str, dialect: Dialect) -> object:
    """The value of a default written as a literal (a string, number, boolean or NULL, with PostgreSQL's
    casts); ``_NO_VALUE`` for an expression."""
    text = _unwrapped(text)
    cast = _CAST.fullmatch(text)
    value = cast.group("value") if cast is not None else ""
    if cast is not None and (_STRING.fullmatch(value) or _ESCAPED_STRING.fullmatch(value) or _NUMBER.fullmatch(value)):
        text = cast.group("value")
    escapes = text[:1] in "Ee" or (dialect.escape_backslash and not dialect.escape_prefix)
    string = (_ESCAPED_STRING if escapes else _STRING).fullmatch(text)
    if string is not None:
        return _unescaped(string.group("body"), escapes)
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "null":
        return None
    return _NO_VALUE


def _unescaped(body: str, escapes: bool) -> str:
    """The value of a string literal's ``body``: ``''`` is one quote, and where the literal takes
    backslash escapes (MariaDB's, PostgreSQL's ``E'…'``) ``\\n`` a newline and ``\\x`` any other ``x``."""
    if not escapes:
        return body.replace("''", "'")
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        elif body.startswith("''", i):
            out.append("'")
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _fitted(value: object, ctype: ColumnType, nullable: bool, enum: tuple[str | int, ...]) -> Default | object:
    """``value`` as a literal default of ``ctype``, or ``_NO_VALUE`` when it is none."""
    if value is None:
        return Default("literal", None) if nullable else _NO_VALUE
    if ctype.name == "boolean":
        if isinstance(value, int) and value in (0, 1):
            value = bool(value)
    elif ctype.name == "json":
        if not isinstance(value, str):
            return _NO_VALUE
        try:
            parsed = json.loads(value)
        except ValueError:
            return _NO_VALUE
        if not isinstance(parsed, dict | list):
            return _NO_VALUE
        return Default("json", json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    elif isinstance(value, float) and ctype.is_integer:
        return _NO_VALUE
    if _default_problem(ctype, value) is not None or (enum and value not in enum):
        return _NO_VALUE
    assert isinstance(value, str | int | float | bool)
    return Default("literal", value)
