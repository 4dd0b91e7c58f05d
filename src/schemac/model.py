"""Model stage: frozen, dialect-neutral dataclasses for specs and tables.

``spec_from_document`` turns a schema-valid document into a :class:`Spec`, checking everything
that one spec can tell on its own: names, keys, defaults, index and check columns, audit names.
Checks that need earlier versions (references, renames, diffs) belong to the plan stage.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

from schemac.errors import Diagnostic
from schemac.spec.names import check_name, derived_check_name, foreign_key_name, index_name, primary_key_name
from schemac.spec.source import Document, Path_, dotted

Where = tuple[int, int]
NO_WHERE: Where = (1, 1)
MAX_IDENTIFIER = 63
MAX_PRECISION, MAX_SCALE = 65, 38  # MariaDB's limits, the strictest of the supported databases
AUDIT_GROUPS = ("created", "updated", "deleted")
AUDIT_COLUMNS = tuple(f"{group}_{part}" for group in AUDIT_GROUPS for part in ("at", "by"))

# Words reserved by SQLite, PostgreSQL or MariaDB that cannot name a column in an unquoted expression.
RESERVED_WORDS = frozenset(
    {
        "accessible",
        "add",
        "all",
        "alter",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asensitive",
        "asymmetric",
        "authorization",
        "before",
        "between",
        "bigint",
        "binary",
        "blob",
        "both",
        "by",
        "call",
        "cascade",
        "case",
        "cast",
        "change",
        "char",
        "character",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "condition",
        "constraint",
        "continue",
        "convert",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "cursor",
        "database",
        "databases",
        "day_hour",
        "day_microsecond",
        "day_minute",
        "day_second",
        "dec",
        "decimal",
        "declare",
        "default",
        "deferrable",
        "delayed",
        "delete",
        "desc",
        "describe",
        "deterministic",
        "distinct",
        "distinctrow",
        "div",
        "do",
        "double",
        "drop",
        "dual",
        "each",
        "else",
        "elseif",
        "enclosed",
        "end",
        "escape",
        "escaped",
        "except",
        "exists",
        "exit",
        "explain",
        "false",
        "fetch",
        "float",
        "float4",
        "float8",
        "for",
        "force",
        "foreign",
        "freeze",
        "from",
        "full",
        "fulltext",
        "glob",
        "grant",
        "group",
        "having",
        "high_priority",
        "hour_microsecond",
        "hour_minute",
        "hour_second",
        "if",
        "ignore",
        "ilike",
        "in",
        "index",
        "infile",
        "initially",
        "inner",
        "inout",
        "insensitive",
        "insert",
        "int",
        "int1",
        "int2",
        "int3",
        "int4",
        "int8",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "iterate",
        "join",
        "key",
        "keys",
        "kill",
        "lateral",
        "leading",
        "leave",
        "left",
        "like",
        "limit",
        "linear",
        "lines",
        "load",
        "localtime",
        "localtimestamp",
        "lock",
        "long",
        "longblob",
        "longtext",
        "loop",
        "low_priority",
        "match",
        "maxvalue",
        "mediumblob",
        "mediumint",
        "mediumtext",
        "middleint",
        "minute_microsecond",
        "minute_second",
        "mod",
        "modifies",
        "natural",
        "no_write_to_binlog",
        "not",
        "notnull",
        "null",
        "numeric",
        "offset",
        "on",
        "only",
        "optimize",
        "option",
        "optionally",
        "or",
        "order",
        "out",
        "outer",
        "outfile",
        "over",
        "overlaps",
        "partition",
        "placing",
        "precision",
        "primary",
        "procedure",
        "purge",
        "range",
        "read",
        "reads",
        "read_write",
        "real",
        "recursive",
        "references",
        "regexp",
        "release",
        "rename",
        "repeat",
        "replace",
        "require",
        "resignal",
        "restrict",
        "return",
        "returning",
        "revoke",
        "right",
        "rlike",
        "rows",
        "schema",
        "schemas",
        "second_microsecond",
        "select",
        "sensitive",
        "separator",
        "session_user",
        "set",
        "show",
        "signal",
        "similar",
        "smallint",
        "some",
        "spatial",
        "specific",
        "sql",
        "sqlexception",
        "sqlstate",
        "sqlwarning",
        "sql_big_result",
        "sql_calc_found_rows",
        "sql_small_result",
        "ssl",
        "starting",
        "straight_join",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "terminated",
        "then",
        "tinyblob",
        "tinyint",
        "tinytext",
        "to",
        "trailing",
        "trigger",
        "true",
        "undo",
        "union",
        "unique",
        "unlock",
        "unsigned",
        "update",
        "usage",
        "use",
        "user",
        "using",
        "utc_date",
        "utc_time",
        "utc_timestamp",
        "values",
        "varbinary",
        "varchar",
        "varcharacter",
        "variadic",
        "varying",
        "verbose",
        "when",
        "where",
        "while",
        "window",
        "with",
        "write",
        "xor",
        "year_month",
        "zerofill",
    }
)

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TYPE = re.compile(r"(?P<name>[a-z]+)(?:\((?P<a>[0-9]+)(?:, ?(?P<b>[0-9]+))?\))?")
_INT_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)

Action = Literal["cascade", "restrict", "set null", "set default", "no action"]


@dataclass(frozen=True)
class ColumnType:
    """A logical type: ``name`` plus ``string(n)`` length or ``decimal(p,s)`` precision and scale."""

    name: str
    length: int | None = None
    scale: int | None = None

    def __str__(self) -> str:
        if self.name == "decimal":
            return f"decimal({self.length},{self.scale})"
        return f"{self.name}({self.length})" if self.length is not None else self.name

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        match = _TYPE.fullmatch(text.replace(" ", ""))
        if match is None:
            raise ValueError(text)
        a, b = match.group("a"), match.group("b")
        return cls(match.group("name"), int(a) if a else None, int(b) if b else None)

    @property
    def is_text(self) -> bool:
        return self.name in ("text", "string")

    @property
    def is_integer(self) -> bool:
        return self.name in _INT_RANGES


@dataclass(frozen=True)
class Default:
    """A column default: a literal value, a canonical JSON text, or a raw SQL expression."""

    kind: Literal["literal", "json", "sql"]
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = False
    default: Default | None = None
    enum: tuple[str | int, ...] = ()
    description: str = ""
    renamed_from: str | None = None
    audit: bool = False
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class IndexColumn:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    predicate: str | None = None
    description: str = ""
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Check:
    name: str
    expression: str
    description: str = ""
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: Action | None = None
    on_update: Action | None = None
    where: Where = field(default=NO_WHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    checks: tuple[Check, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    description: str = ""
    audit: tuple[str, ...] = AUDIT_GROUPS
    renamed_from: str | None = None
    where: Where = field(default=NO_WHERE, compare=False, repr=False)

    @cached_property
    def digest(self) -> int:
        """SHA-256, as an integer, of what a live database can show of the table (:func:`table_shape`).

        Kept with the table once computed, so that it is worked out in the worker that read the spec
        and travels with the pickled table.
        """
        text = json.dumps(table_shape(self), sort_keys=True, separators=(",", ":"), default=str)
        return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")

    def __hash__(self) -> int:
        """The name's hash: consistent with equality, and cheap where a table keys a cache (the
        generated hash went through every column, index and check each time)."""
        return hash(self.name)

    def __getstate__(self) -> dict[str, Any]:
        """Fields and digest: the lookup tables below are rebuilt where needed, not pickled."""
        state = dict(self.__dict__)
        for lookup in _TABLE_LOOKUPS:
            state.pop(lookup, None)
        return state

    @cached_property
    def columns_by_name(self) -> Mapping[str, Column]:
        """Each column by name (the first, should two share one), so that lookups in loops stay constant-time."""
        found: dict[str, Column] = {}
        for column in self.columns:
            found.setdefault(column.name, column)
        return found

    @cached_property
    def foreign_keys_by_target(self) -> Mapping[str, Sequence[int]]:
        """The positions in ``foreign_keys`` of the keys that reference each table."""
        found: dict[str, list[int]] = {}
        for position, fk in enumerate(self.foreign_keys):
            found.setdefault(fk.ref_table, []).append(position)
        return found

    @cached_property
    def index_names(self) -> frozenset[str]:
        """The names of the table's indexes, for constant-time membership tests."""
        return frozenset(index.name for index in self.indexes)

    def column(self, name: str) -> Column | None:
        return self.columns_by_name.get(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_TABLE_LOOKUPS = ("columns_by_name", "foreign_keys_by_target", "index_names")
"""Cached properties of :class:`Table` that pickles leave out."""


def table_shape(table: Table) -> dict[str, object]:
    """What a live database can show of a table: no descriptions, renames or source positions."""
    return {
        "name": table.name,
        "columns": [column_shape(c) for c in table.columns],
        "primary_key": list(table.primary_key),
        "indexes": sorted(index_shape(i) for i in table.indexes),
        "checks": sorted([c.name, c.expression] for c in table.checks),
        "foreign_keys": sorted(foreign_key_shape(f) for f in table.foreign_keys),
    }


def column_shape(c: Column) -> list[object]:
    return [c.name, str(c.type), c.nullable, c.default and [c.default.kind, c.default.value], list(c.enum)]


def index_shape(i: Index) -> list[object]:
    return [i.name, i.unique, [[c.name, c.descending] for c in i.columns], i.predicate]


def foreign_key_shape(f: ForeignKey) -> list[object]:
    return [f.name, list(f.columns), f.ref_table, list(f.ref_columns), f.on_delete, f.on_update]


@dataclass(frozen=True)
class Spec:
    """One spec file: its version, and the tables it declares as of that version."""

    version: int
    prefix: str
    slug: str
    file: str
    sha256: str
    description: str
    tables: tuple[Table, ...] = ()
    drop_tables: tuple[str, ...] = ()
    allow_destructive: bool = False
    positions: dict[Path_, Where] = field(default_factory=dict, compare=False, repr=False)

    @property
    def stem(self) -> str:
        return f"{self.prefix}_{self.slug}"

    def at(self, *path: str | int) -> Where:
        """Line and column of a spec path, or of its nearest parent."""
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return NO_WHERE


_TYPE_CHECKS = {"boolean": "boolean", "json": "json", "string": "length"}
"""Logical type → the kind of check a dialect may need for it (its column type does not enforce the rule)."""


@dataclass(frozen=True)
class DerivedCheck:
    """A check the compiler adds to a column: its name, its body in one dialect's SQL, its kind and column."""

    name: str
    expression: str
    kind: str
    column: str


class CheckSyntax(Protocol):
    """What :func:`derived_checks` asks of a dialect (:class:`schemac.dialects.Dialect` answers it)."""

    @property
    def check_templates(self) -> Mapping[str, str]: ...

    def ident(self, name: str) -> str: ...

    def literal(self, value: str | int | float | bool | None) -> str: ...


def derived_checks(table: str, column: Column, dialect: CheckSyntax | None = None) -> tuple[DerivedCheck, ...]:
    """The checks ``dialect`` derives from ``column`` of ``table`` (its enum, and a boolean, json or
    ``string(n)`` type the engine does not enforce), named ``ck_<table>_<column>_<suffix>``.

    The one place these checks are made: create, alter and rename render them, ``verify`` expects them.
    Without a dialect: every check some dialect derives, without a body (names are reserved on every
    engine, so that a spec means the same wherever it is built).
    """
    kinds = ["enum"] if column.enum else []
    if column.type.name in _TYPE_CHECKS:
        kinds.append(_TYPE_CHECKS[column.type.name])
    found = []
    for kind in kinds:
        name = derived_check_name(table, column.name, kind)
        if dialect is None:
            found.append(DerivedCheck(name, "", kind, column.name))
            continue
        template = dialect.check_templates.get(kind)
        if template is not None:
            values = ", ".join(dialect.literal(value) for value in column.enum)
            body = template.format(column=dialect.ident(column.name), values=values, length=column.type.length)
            found.append(DerivedCheck(name, body, kind, column.name))
    return tuple(found)


def audit_check(table: str, group: str) -> Check:
    """The check of an audit group's ``<group>_by`` column: a non-empty author, for soft deletes only
    together with ``deleted_at``."""
    if group == "deleted":
        return Check(
            check_name(table, "deleted_by"),
            # deleted_by IS NOT NULL is needed: length(NULL) > 0 is NULL, and a NULL CHECK passes.
            "(deleted_at IS NULL AND deleted_by IS NULL) OR "
            "(deleted_at IS NOT NULL AND deleted_by IS NOT NULL AND length(deleted_by) > 0)",
        )
    return Check(check_name(table, f"{group}_by"), f"length({group}_by) > 0")


RESERVED_PREFIX = "sqlite_"
"""SQLite refuses tables and indexes whose names start with this; no name may, so specs stay portable."""


def is_reserved(name: str) -> bool:
    return name in RESERVED_WORDS or name.startswith(RESERVED_PREFIX)


def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as an SQL identifier, or ``None`` when it can."""
    if len(name) > MAX_IDENTIFIER:
        return f"name '{name}' is {len(name)} characters, over the limit of {MAX_IDENTIFIER}"
    if not IDENTIFIER.fullmatch(name):
        return f"'{name}' is not a valid name: use lowercase letters, digits and _, not starting with a digit"
    if name.startswith(RESERVED_PREFIX):
        return f"'{name}' starts with '{RESERVED_PREFIX}', which SQLite reserves for its own tables"
    if name in RESERVED_WORDS:
        return f"'{name}' is a reserved word in SQLite, PostgreSQL or MariaDB"
    return None


def control_character(text: str) -> str | None:
    """The first control character in ``text`` other than tab and newline, as ``U+XXXX``, or ``None``."""
    for ch in text:
        if unicodedata.category(ch) == "Cc" and ch not in "\t\n":
            return f"U+{ord(ch):04X}"
    return None


def control_character_diagnostics(doc: Document) -> list[Diagnostic]:
    """Every key or string value holding a control character (CR, NUL, ESC, …): none may reach SQL output."""
    found: list[Diagnostic] = []
    if not doc.may_hold_controls:
        return found

    def walk(value: Any, path: Path_) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if (char := control_character(key)) is not None:
                    found.append(_control_diagnostic(doc, (*path, key), char, key=True))
                walk(item, (*path, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, (*path, i))
        elif isinstance(value, str) and (char := control_character(value)) is not None:
            found.append(_control_diagnostic(doc, path, char))

    walk(doc.data, ())
    return found


def _control_diagnostic(doc: Document, path: Path_, char: str, *, key: bool = False) -> Diagnostic:
    return doc.diagnostic(
        path,
        "SC314",
        f"{dotted(path)} contains the control character {char}, which must not reach the generated SQL",
        "remove it; text may hold tabs and newlines but no other control characters",
        key=key,
    )


def scan_expression(text: str) -> str | None:
    """Why ``text`` is not a single self-contained SQL expression, or ``None``.

    Outside string literals and quoted names it must have balanced parentheses, no ``;``, no
    comment markers (``--``, ``/*``, ``#``), no ``$`` and no subquery, and it holds no backslash
    anywhere, so every supported engine sees the same string boundaries and wrapping it in
    ``CHECK (...)`` cannot escape.
    """
    if "\\" in text:
        return "contains a backslash, which MariaDB reads as an escape inside strings and SQLite does not"
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            end = text.find(ch, i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == ch:
                end = text.find(ch, end + 2)
            if end == -1:
                return f"unterminated {ch} quote"
            i = end + 1
            continue
        if ch == ";":
            return "contains ';': an expression cannot hold a second statement"
        if text.startswith("--", i) or text.startswith("/*", i) or ch == "#":
            return "contains an SQL comment marker"
        if ch == "$":
            return "contains '$', which starts a dollar-quoted string in PostgreSQL"
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return "has a ')' without its '('"
        elif (ch.isalpha() or ch == "_") and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            word = _WORD.match(text, i)  # matched in place: slicing the rest of the text made a scan quadratic
            if word is not None:  # else a non-ASCII letter, which cannot start a keyword
                if word.group().lower() == "select":
                    return "contains a subquery: an expression may use only its own table's columns"
                i = word.end()
                continue
        i += 1
    if depth:
        return "has a '(' without its ')'"
    if not text.strip():
        return "is empty"
    return None


class _SpecReader:
    """Builds the model of one document, collecting every local finding."""

    def __init__(self, doc: Document, version: int, prefix: str, slug: str, audit_default: tuple[str, ...]) -> None:
        self.doc = doc
        self.version, self.prefix, self.slug = version, prefix, slug
        self.audit_default = audit_default
        self.diagnostics: list[Diagnostic] = []

    def error(self, path: Path_, code: str, message: str, hint: str = "", *, key: bool = False) -> None:
        self.diagnostics.append(self.doc.diagnostic(path, code, message, hint, key=key))

    def name(
        self,
        path: Path_,
        name: str,
        *,
        key: bool = False,
        generated: bool = False,
        hint: str = "give it a shorter explicit name",
    ) -> None:
        problem = identifier_problem(name)
        if problem is None:
            return
        if generated:
            self.error(path, "SC303", f"generated {problem}", hint, key=key)
        elif len(name) > MAX_IDENTIFIER:
            self.error(path, "SC303", problem, "use a shorter name", key=key)
        elif is_reserved(name):
            hint = f"choose another name, such as '{name}_value'" if name in RESERVED_WORDS else "drop the prefix"
            self.error(path, "SC302", problem, hint, key=key)
        else:
            self.error(path, "SC301", problem, key=key)

    def expression(self, path: Path_, text: str) -> None:
        problem = scan_expression(text)
        if problem:
            self.error(path, "SC310", f"expression {problem}")

    def spec(self) -> Spec:
        data = self.doc.data
        tables = tuple(self.table(name, body) for name, body in (data.get("tables") or {}).items())
        for i, name in enumerate(data.get("drop_tables", [])):
            self.name(("drop_tables", i), name)
        return Spec(
            self.version,
            self.prefix,
            self.slug,
            self.doc.file,
            self.doc.sha256,
            data["description"],
            tables,
            tuple(data.get("drop_tables", [])),
            bool(data.get("allow_destructive", False)),
            self.doc.positions,
        )

    def table(self, name: str, body: dict[str, Any]) -> Table:
        base: Path_ = ("tables", name)
        self.name(base, name, key=True)
        if body.get("renamed_from"):
            self.name((*base, "renamed_from"), body["renamed_from"])
        columns = [self.column(name, cname, cbody) for cname, cbody in body["columns"].items()]
        audit = self.audit(body)
        known = {c.name for c in columns} | {f"{g}_{p}" for g in audit for p in ("at", "by")}
        primary_key = self.primary_key(name, body, columns)
        checks = [
            Check(
                check_name(name, c.name),
                body["columns"][c.name]["check"],
                "",
                self.doc.at((*base, "columns", c.name, "check")),
            )
            for c in columns
            if "check" in body["columns"][c.name]
        ]
        for i, item in enumerate(body.get("checks", [])):
            path = (*base, "checks", i)
            checks.append(
                Check(
                    check_name(name, item["name"]),
                    item["expression"],
                    item.get("description", ""),
                    self.doc.at((*path, "expression")),
                )
            )
            self.expression((*path, "expression"), item["expression"])
        for check in checks:
            self.name(base, check.name, generated=True, key=True, hint="use a shorter table, column or check name")
        self.unique_names(base, "checks", [c.name for c in checks])
        indexes = [self.index(name, i, item, known) for i, item in enumerate(body.get("indexes", []))]
        for column in columns:
            cbody = body["columns"][column.name]
            if cbody.get("unique") and column.name not in primary_key:
                unique_name = index_name(name, [column.name], unique=True)
                indexes.append(
                    Index(unique_name, (IndexColumn(column.name),), True, None, "", column.where)
                )
                self.name(
                    (*base, "columns", column.name),
                    unique_name,
                    generated=True,
                    key=True,
                    hint="declare it under indexes: with unique: true and a shorter name:",
                )
            for derived in derived_checks(name, column):
                self.name(
                    (*base, "columns", column.name),
                    derived.name,
                    generated=True,
                    key=True,
                    hint="use a shorter table or column name",
                )
        self.unique_names(base, "indexes", [i.name for i in indexes])
        foreign_keys = self.foreign_keys(name, body, columns, known)
        if primary_key and len(primary_key_name(name)) > MAX_IDENTIFIER:
            self.error(
                base,
                "SC303",
                f"generated primary key name '{primary_key_name(name)}' is {len(primary_key_name(name))} characters, "
                f"over the limit of {MAX_IDENTIFIER}",
                f"use a table name of at most {MAX_IDENTIFIER - 3} characters",
                key=True,
            )
        self.constraint_names(name, primary_key, columns, checks, foreign_keys, audit)
        return Table(
            name,
            tuple(columns),
            primary_key,
            tuple(indexes),
            tuple(checks),
            tuple(foreign_keys),
            body.get("description", ""),
            audit,
            body.get("renamed_from"),
            self.doc.at(base, key=True),
        )

    def unique_names(self, base: Path_, what: str, names: list[str]) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                self.error(
                    (*base, what),
                    "SC304",
                    f"two {what} of table '{base[1]}' are both named '{name}'",
                    "give one of them an explicit name",
                )
            seen.add(name)

    def constraint_names(
        self,
        table: str,
        primary_key: tuple[str, ...],
        columns: list[Column],
        checks: list[Check],
        foreign_keys: list[ForeignKey],
        audit: tuple[str, ...],
    ) -> None:
        """Constraint names are one namespace per table (PostgreSQL): a check, a foreign key and the
        checks the compiler derives (enum, boolean, json, length, audit) must not share a name."""
        where = self.doc.at(("tables", table), key=True)
        named: list[tuple[str, str, Where]] = []
        if primary_key:
            named.append((primary_key_name(table), "the primary key", where))
        named += [
            (derived.name, f"the {derived.kind} check of column '{column.name}'", column.where)
            for column in columns
            for derived in derived_checks(table, column)
        ]
        audit_names = [(group, audit_check(table, group).name) for group in audit]
        named += [(name, f"the {group} audit check", where) for group, name in audit_names]
        for _, name in audit_names:
            if len(name) > MAX_IDENTIFIER:
                self.error(
                    ("tables", table),
                    "SC303",
                    f"generated audit check name '{name}' is {len(name)} characters, "
                    f"over the limit of {MAX_IDENTIFIER}",
                    "use a shorter table name",
                    key=True,
                )
        named += [(c.name, "a check", c.where) for c in checks]
        named += [(fk.name, "a foreign key", fk.where) for fk in foreign_keys]
        owners: dict[str, str] = {}
        for name, owner, (line, col) in named:
            first = owners.setdefault(name, owner)
            if first != owner:  # same-kind duplicates are reported by unique_names
                self.diagnostics.append(
                    Diagnostic(
                        self.doc.file,
                        line,
                        col,
                        "SC304",
                        f"constraint name '{name}' of table '{table}' is used by both {first} and {owner}",
                        "rename one of them (a check is named ck_<table>_<name>)",
                    )
                )

    def audit(self, body: dict[str, Any]) -> tuple[str, ...]:
        value = body.get("audit")
        if value is None:
            return self.audit_default
        if value == "full":
            return AUDIT_GROUPS
        if value == "none":
            return ()
        return tuple(g for g in AUDIT_GROUPS if g in value)

    def primary_key(self, table: str, body: dict[str, Any], columns: list[Column]) -> tuple[str, ...]:
        base: Path_ = ("tables", table)
        flagged = [c.name for c in columns if body["columns"][c.name].get("primary_key")]
        declared = body.get("primary_key")
        if declared is not None and flagged:
            self.error(
                (*base, "columns", flagged[0], "primary_key"),
                "SC307",
                f"table '{table}' has both a table-level primary_key and primary_key: true on column '{flagged[0]}'",
                "keep one of the two",
            )
        if len(flagged) > 1:
            self.error(
                (*base, "columns", flagged[1], "primary_key"),
                "SC307",
                f"table '{table}' marks more than one column as primary_key: {', '.join(flagged)}",
                f"use a table-level primary_key: [{', '.join(flagged)}]",
            )
        key = tuple(declared) if declared is not None else tuple(flagged[:1])
        names = {c.name: c for c in columns}
        for i, col in enumerate(key):
            if col not in names:
                self.error(
                    (*base, "primary_key", i), "SC306", f"primary key column '{col}' is not a column of table '{table}'"
                )
            elif names[col].nullable:
                self.error(
                    (*base, "columns", col, "nullable"), "SC307", f"primary key column '{col}' cannot be nullable"
                )
        return key

    def column(self, table: str, name: str, body: dict[str, Any]) -> Column:
        path: Path_ = ("tables", table, "columns", name)
        self.name(path, name, key=True)
        if name in AUDIT_COLUMNS:
            self.error(
                path,
                "SC309",
                f"'{name}' is an audit column and is added by the compiler",
                "remove it; control audit columns with the table's audit: key",
                key=True,
            )
        ctype = ColumnType.parse(body["type"])
        if ctype.name == "decimal" and (ctype.scale or 0) > (ctype.length or 0):
            self.error((*path, "type"), "SC205", f"decimal scale {ctype.scale} exceeds precision {ctype.length}")
        elif ctype.name == "decimal" and ((ctype.length or 0) > MAX_PRECISION or (ctype.scale or 0) > MAX_SCALE):
            self.error(
                (*path, "type"),
                "SC205",
                f"{ctype} is too large: every supported database takes precision up to {MAX_PRECISION} "
                f"and scale up to {MAX_SCALE}",
            )
        nullable = bool(body.get("nullable", False))
        enum = tuple(body.get("enum", ()))
        if enum:
            self.enum(path, ctype, enum)
        if body.get("renamed_from"):
            self.name((*path, "renamed_from"), body["renamed_from"])
        if "check" in body:
            self.expression((*path, "check"), body["check"])
        for action in ("on_delete", "on_update"):
            if action in body and "references" not in body:
                self.error((*path, action), "SC306", f"column '{name}' has {action} but no references")
            if body.get(action) == "set null" and not nullable:
                self.error((*path, action), "SC307", f"{action}: set null needs column '{name}' to be nullable: true")
            if body.get(action) == "set default" and not nullable and "default" not in body:
                self.error((*path, action), "SC307", f"{action}: set default needs column '{name}' to have a default")
        default = self.default((*path, "default"), ctype, body, nullable, enum) if "default" in body else None
        return Column(
            name,
            ctype,
            nullable,
            default,
            enum,
            body.get("description", ""),
            body.get("renamed_from"),
            False,
            self.doc.at(path, key=True),
        )

    def enum(self, path: Path_, ctype: ColumnType, values: tuple[str | int, ...]) -> None:
        for i, value in enumerate(values):
            if ctype.is_text and not isinstance(value, str):
                self.error(
                    (*path, "enum", i),
                    "SC308",
                    f"enum value {value!r} must be a string for {_a(ctype)} column",
                    f"quote it: '{value}'",
                )
            elif ctype.is_integer and not isinstance(value, int):
                self.error(
                    (*path, "enum", i), "SC308", f"enum value {value!r} must be an integer for {_a(ctype)} column"
                )
            elif not (ctype.is_text or ctype.is_integer):
                self.error((*path, "enum"), "SC308", f"enum is only allowed on text and integer columns, not {ctype}")
                return
            elif ctype.name == "string" and isinstance(value, str) and len(value) > (ctype.length or 0):
                self.error((*path, "enum", i), "SC308", f"enum value '{value}' is longer than {ctype}")
            elif ctype.is_integer and not -_INT_RANGES[ctype.name] <= int(value) < _INT_RANGES[ctype.name]:
                self.error((*path, "enum", i), "SC308", f"enum value {value} is out of range for {ctype}")

    def default(
        self, path: Path_, ctype: ColumnType, body: dict[str, Any], nullable: bool, enum: tuple[str | int, ...]
    ) -> Default | None:
        value = body["default"]
        if isinstance(value, dict) and set(value) == {"sql"}:
            if not isinstance(value["sql"], str):
                self.error((*path, "sql"), "SC202", "default sql must be a string")
                return None
            self.expression((*path, "sql"), value["sql"])
            return Default("sql", value["sql"])
        if value is None:
            if not nullable:
                self.error(
                    path,
                    "SC308",
                    "default is null but the column is not nullable",
                    "add nullable: true or remove the default",
                )
            return Default("literal", None)
        problem = _default_problem(ctype, value)
        if problem is None and enum and value not in enum:
            problem = f"default {value!r} is not one of the enum values"
        if problem:
            self.error(path, "SC308", problem)
            return None
        if ctype.name == "json":
            return Default("json", json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        return Default("literal", value)

    def index(self, table: str, i: int, body: dict[str, Any], known: set[str]) -> Index:
        path: Path_ = ("tables", table, "indexes", i)
        parts = []
        for j, item in enumerate(body["columns"]):
            name, order = (item, "asc") if isinstance(item, str) else (item["name"], item.get("order", "asc"))
            if name not in known:
                self.error((*path, "columns", j), "SC306", f"index column '{name}' is not a column of table '{table}'")
            parts.append(IndexColumn(name, order == "desc"))
        unique = bool(body.get("unique", False))
        generated = index_name(table, (p.name + ("_desc" if p.descending else "") for p in parts), unique)
        name = body.get("name") or generated
        self.name((*path, "name") if "name" in body else path, name, generated="name" not in body)
        if "where" in body:
            self.expression((*path, "where"), body["where"])
        return Index(name, tuple(parts), unique, body.get("where"), body.get("description", ""), self.doc.at(path))

    def foreign_keys(
        self, table: str, body: dict[str, Any], columns: list[Column], known: set[str]
    ) -> list[ForeignKey]:
        base: Path_ = ("tables", table)
        by_name = {c.name: c for c in columns}
        result = []
        for column in columns:
            cbody = body["columns"][column.name]
            if "references" in cbody:
                ref_table, ref_column = cbody["references"].split(".")
                fk = ForeignKey(
                    foreign_key_name(table, [column.name]),
                    (column.name,),
                    ref_table,
                    (ref_column,),
                    cbody.get("on_delete"),
                    cbody.get("on_update"),
                    self.doc.at((*base, "columns", column.name, "references")),
                )
                self.name(
                    (*base, "columns", column.name, "references"),
                    fk.name,
                    generated=True,
                    hint="declare it under foreign_keys: with a shorter name:",
                )
                result.append(fk)
        for i, item in enumerate(body.get("foreign_keys", [])):
            path = (*base, "foreign_keys", i)
            cols, ref = tuple(item["columns"]), item["references"]
            for j, col in enumerate(cols):
                if col not in known:
                    self.error(
                        (*path, "columns", j), "SC306", f"foreign key column '{col}' is not a column of table '{table}'"
                    )
            if len(cols) != len(ref["columns"]):
                self.error(
                    (*path, "references", "columns"),
                    "SC306",
                    f"foreign key has {len(cols)} columns but references {len(ref['columns'])}",
                )
            name = item.get("name") or foreign_key_name(table, cols)
            self.name((*path, "name") if "name" in item else path, name, generated="name" not in item)
            key_columns = [by_name[c] for c in cols if c in by_name]
            for action in ("on_delete", "on_update"):
                if item.get(action) == "set null" and any(c.nullable is False for c in key_columns):
                    self.error((*path, action), "SC307", f"{action}: set null needs the key columns to be nullable")
                if item.get(action) == "set default" and any(not c.nullable and c.default is None for c in key_columns):
                    self.error(
                        (*path, action), "SC307", f"{action}: set default needs every key column to have a default"
                    )
            result.append(
                ForeignKey(
                    name,
                    cols,
                    ref["table"],
                    tuple(ref["columns"]),
                    item.get("on_delete"),
                    item.get("on_update"),
                    self.doc.at(path),
                )
            )
        self.unique_names(base, "foreign_keys", [fk.name for fk in result])
        return result


def _a(thing: object) -> str:
    """``thing`` with its indefinite article: "an integer", "a text"."""
    text = str(thing)
    return f"{'an' if text[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {text}"


def _default_problem(ctype: ColumnType, value: Any) -> str | None:
    """Why a literal default does not fit ``ctype``, or ``None``."""
    shown = f"default {value!r}"
    if ctype.name == "json":
        return None if isinstance(value, dict | list) else f"{shown} must be {{}} or [] for a json column"
    if isinstance(value, dict | list):
        return f"{shown} must be a single value for {_a(ctype)} column (use {{sql: ...}} for an expression)"
    if ctype.name == "boolean":
        return None if isinstance(value, bool) else f"{shown} must be true or false for a boolean column"
    if isinstance(value, bool):
        return f"{shown} is a boolean but the column is {ctype}"
    if ctype.is_integer:
        if not isinstance(value, int):
            return f"{shown} must be an integer for {_a(ctype)} column"
        limit = _INT_RANGES[ctype.name]
        return None if -limit <= value < limit else f"{shown} is out of range for {ctype}"
    if ctype.name in ("real", "double"):
        if not isinstance(value, int | float) or not math.isfinite(value):
            return f"{shown} must be a number for {_a(ctype)} column"
        return None
    if ctype.name == "decimal":
        if not isinstance(value, int | float) or not math.isfinite(value):
            return f"{shown} must be a number for {_a(ctype)} column"
        whole = len(str(abs(int(value)))) if int(value) else 0
        exponent = decimal.Decimal(repr(value)).as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > (ctype.scale or 0):
            return f"{shown} has more than {ctype.scale} decimal places for {ctype}"
        return None if whole <= (ctype.length or 0) - (ctype.scale or 0) else f"{shown} does not fit {ctype}"
    if ctype.name == "bytes":
        return f"a bytes column takes only an SQL default ({{sql: ...}}), not {value!r}"
    if not isinstance(value, str):
        return f"{shown} must be a string for {_a(ctype)} column (quote it)"
    if ctype.name == "string" and len(value) > (ctype.length or 0):
        return f"{shown} is longer than {ctype}"
    formats = {
        "uuid": (_UUID, "a UUID"),
        "date": (_DATE, "a date YYYY-MM-DD"),
        "timestamp": (_TIMESTAMP, "an ISO 8601 timestamp"),
    }
    if ctype.name in formats and not formats[ctype.name][0].fullmatch(value):
        return f"{shown} is not {formats[ctype.name][1]}"
    return None


def spec_from_document(
    doc: Document, version: int, prefix: str, slug: str, audit_default: tuple[str, ...] = AUDIT_GROUPS
) -> tuple[Spec, list[Diagnostic]]:
    """The model of one schema-valid document, with every local finding."""
    reader = _SpecReader(doc, version, prefix, slug, audit_default)
    spec = reader.spec()
    return spec, control_character_diagnostics(doc) + reader.diagnostics
