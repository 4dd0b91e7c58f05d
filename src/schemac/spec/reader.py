"""Reader: the model of one schema-valid spec document (:func:`spec_from_document`).

Checks everything one spec can tell on its own: names, keys, types, defaults, enums, index and
check columns, constraint names, audit columns. Checks that need earlier versions (references,
renames, diffs) belong to the planner.
"""

from __future__ import annotations

import decimal
import json
import math
import re
from typing import Any

from schemac.errors import Diagnostic
from schemac.model import (
    IDENTITY_TYPES,
    INTEGER_RANGES,
    PORTABLE_DEFAULTS,
    UUID_TEXT_LENGTH,
    Check,
    Column,
    ColumnType,
    Default,
    ForeignKey,
    Index,
    IndexColumn,
    Spec,
    Table,
    Where,
    portable_default_fits,
)
from schemac.spec.audit import AUDIT_GROUPS, audit_column_names, audit_groups
from schemac.spec.checks import audit_check, derived_checks
from schemac.spec.expressions import control_character_diagnostics, scan_expression
from schemac.spec.names import (
    MAX_IDENTIFIER,
    check_name,
    foreign_key_name,
    identifier_problem,
    index_name,
    is_reserved,
    primary_key_name,
)
from schemac.spec.reserved import RESERVED_WORDS
from schemac.spec.source import Document, Path_

MAX_PRECISION, MAX_SCALE = 65, 38  # MariaDB's limits, the strictest of the supported databases
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


_NOT_IN_BASELINE = {
    "audit": (
        "a baseline describes tables as they are, so no audit policy applies to them",
        "remove audit:, and write the audit columns a table has as columns",
    ),
    "renamed_from": (
        "a baseline describes the schema as it is, so nothing in it is renamed",
        "rename in a later spec",
    ),
    "drop_tables": (
        "a baseline describes the schema as it is, so it drops nothing",
        "drop tables in a later spec",
    ),
}


class _SpecReader:
    """Builds the model of one document, collecting every local finding."""

    def __init__(self, doc: Document, version: int, prefix: str, slug: str, audit_default: tuple[str, ...]) -> None:
        self.doc = doc
        self.version, self.prefix, self.slug = version, prefix, slug
        self.audit_default = audit_default
        self.baseline = doc.data.get("baseline") is True
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
        if self.baseline and data.get("drop_tables"):
            self.error(("drop_tables",), "SC527", *_NOT_IN_BASELINE["drop_tables"], key=True)
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
            self.baseline,
        )

    def table(self, name: str, body: dict[str, Any]) -> Table:
        base: Path_ = ("tables", name)
        self.name(base, name, key=True)
        if body.get("renamed_from"):
            self.name((*base, "renamed_from"), body["renamed_from"])
        columns = [self.column(name, cname, cbody) for cname, cbody in body["columns"].items()]
        if self.baseline:
            for key in ("audit", "renamed_from"):
                if key in body:
                    self.error((*base, key), "SC527", *_NOT_IN_BASELINE[key], key=True)
            for cname, cbody in body["columns"].items():
                if "renamed_from" in cbody:
                    self.error(
                        (*base, "columns", cname, "renamed_from"), "SC527", *_NOT_IN_BASELINE["renamed_from"], key=True
                    )
        written = {c.name for c in columns}
        # A group of which the table has a column written by hand is not added (a table from the baseline
        # keeps its own audit columns; the planner refuses them in any other table).
        audit = tuple(g for g in self.audit(body) if not written & set(audit_column_names((g,))))
        known = {c.name for c in columns} | set(audit_column_names(audit))
        primary_key = self.primary_key(name, body, columns)
        for column in columns:
            if column.identity:
                self.identity(name, column, primary_key)
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
        named: set[str] = set()  # the checks whose constraint the spec names itself
        for i, item in enumerate(body.get("checks", [])):
            path = (*base, "checks", i)
            constraint = item.get("constraint")
            if constraint is not None:
                self.name((*path, "constraint"), constraint)
                named.add(constraint)
            checks.append(
                Check(
                    constraint or check_name(name, item["name"]),
                    item["expression"],
                    item.get("description", ""),
                    self.doc.at((*path, "expression")),
                )
            )
            self.expression((*path, "expression"), item["expression"])
        for check in checks:
            if check.name not in named:
                self.name(base, check.name, generated=True, key=True, hint="use a shorter table, column or check name")
        self.unique_names(base, "checks", [c.name for c in checks])
        indexes = [self.index(name, i, item, known) for i, item in enumerate(body.get("indexes", []))]
        for column in columns:
            cbody = body["columns"][column.name]
            if cbody.get("unique") and column.name not in primary_key:
                unique_name = index_name(name, [column.name], unique=True)
                indexes.append(Index(unique_name, (IndexColumn(column.name),), True, None, "", column.where))
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
            legacy=self.baseline,
            audit_by_default="audit" not in body,
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
        """The table's audit groups: none in a baseline, which describes tables as they are."""
        value = body.get("audit")
        if self.baseline:
            return ()
        if value is None:
            return self.audit_default
        return audit_groups(value) or ()  # a schema-valid document holds a policy

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
        return key  # a nullable key column is refused by the planner, which knows the tables of the baseline

    def column(self, table: str, name: str, body: dict[str, Any]) -> Column:
        path: Path_ = ("tables", table, "columns", name)
        self.name(path, name, key=True)
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
            body.get("identity") is True,
        )

    def identity(self, table: str, column: Column, primary_key: tuple[str, ...]) -> None:
        """``identity: true`` only on the table's single-column primary key, an integer or bigint that is
        NOT NULL, without default or enum (the engine gives its values)."""
        if column.name not in primary_key:
            problem, hint = "is not the table's primary key", "mark the column primary_key: true, or remove identity"
        elif primary_key != (column.name,):
            problem, hint = "is part of a composite key", "remove identity, or make the column the only key column"
        elif column.type.name not in IDENTITY_TYPES:
            problem, hint = f"is {column.type}, not integer or bigint", "make it type: integer or bigint"
        elif column.nullable:
            problem, hint = "is nullable", "remove nullable: true"
        elif column.default is not None:
            problem, hint = "has a default", "remove the default: the engine numbers the rows"
        elif column.enum:
            problem, hint = "has an enum", "remove the enum"
        else:
            return
        self.error(
            ("tables", table, "columns", column.name, "identity"),
            "SC325",
            f"identity column '{table}.{column.name}' {problem}: identity is for a single-column integer or "
            "bigint primary key",
            hint,
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
            elif ctype.is_integer and not -INTEGER_RANGES[ctype.name] <= int(value) < INTEGER_RANGES[ctype.name]:
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
        if isinstance(value, dict) and set(value) == {"fn"}:
            return self.portable_default((*path, "fn"), ctype, value["fn"], enum)
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

    def portable_default(
        self, path: Path_, ctype: ColumnType, name: Any, enum: tuple[str | int, ...]
    ) -> Default | None:
        """``{fn: now}`` or ``{fn: uuid}``, each on a column of a type it fits."""
        if not isinstance(name, str):
            self.error(path, "SC202", "default fn must be a string: now or uuid")
            return None
        if name not in PORTABLE_DEFAULTS:
            known = " or ".join(PORTABLE_DEFAULTS)
            self.error(
                path,
                "SC308",
                f"unknown default function '{name}': the portable ones are {known}",
                "for another expression use {sql: ...}, which is written as it is for every engine",
            )
            return None
        if not portable_default_fits(name, ctype):
            wanted = {"now": "a timestamp or date", "uuid": f"a uuid, text or string({UUID_TEXT_LENGTH}+)"}[name]
            self.error(path, "SC308", f"default {{fn: {name}}} needs {wanted} column, not {_a(ctype)} column")
            return None
        if enum:
            self.error(path, "SC308", f"default {{fn: {name}}} is not one of the enum values")
            return None
        return Default("fn", name)

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
        limit = INTEGER_RANGES[ctype.name]
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
