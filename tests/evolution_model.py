"""The random differential evolution test's helpers: a hypothesis strategy for histories of specs with the
rows each version must keep, each engine's catalog read in full, and values normalised for comparison.

A history is drawn step by step against a model of the schema and of every row inserted so far, so a
change is only drawn when the rows present allow it (a unique index over distinct values, an enum that
holds every stored value, NOT NULL over no NULL unless a default fills them, ...), and the model says
what the change does to the rows (a dropped column loses its values, a renamed one keeps them, an added
one holds its default, a type change converts them).
"""

from __future__ import annotations

import copy
import datetime
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

Row = dict[str, Any]
Query = Callable[..., list[tuple[Any, ...]]]

INTEGERS = ("integer", "bigint", "smallint")
NUMBERS = (*INTEGERS, "real", "double", "decimal(10,2)", "decimal(12,2)")
TEXTS = ("text", "string(10)", "string(20)")
OTHERS = ("boolean", "date", "timestamp", "json", "uuid", "bytes")
TYPES = (*NUMBERS, *TEXTS, *OTHERS)
AUDIT_GROUPS = ("created", "updated", "deleted")
ACTIONS = (None, "cascade", "set null", "set default", "restrict", "no action")


def actions(engine: str, nullable: bool) -> list[str | None]:
    """Referential actions a key column can take: ``set null``/``set default`` (to NULL here) need it nullable,
    and MariaDB refuses ``set default`` (SC322)."""
    return [
        a
        for a in ACTIONS
        if nullable or a not in ("set null", "set default")
        if engine != "mariadb" or a != "set default"
    ]


OWN_TABLES = ("schemac_history", "schemac_progress", "_migrations")

# What an engine cannot do, which the build refuses: the generator leaves it out on that engine.
JSON_IN_INDEX = ("mariadb",)
"""MariaDB stores json as LONGTEXT, which has no full-length index: a json column in a key or index is
refused at build (SC324). Left out: json columns in indexes and keys on MariaDB."""
CHECKED_KEY_COLUMN = ("mariadb",)
"""MariaDB refuses a CHECK over a foreign key column whose key has ON UPDATE CASCADE, ON UPDATE SET NULL or
ON DELETE SET NULL (error 1901); the build refuses it (SC323). Left out: checks over foreign key columns on
MariaDB."""

CHECKS = {
    "number": ("{0} >= 0", "{0} < 1000000", "{0} <> -1"),
    "text": ("length({0}) > 0", "{0} <> ''", "length({0}) < 100"),
}
"""Check templates per family, each true for every value the generator stores (numbers are >= 0, texts non-empty)."""
PAIR_CHECKS = {"number": ("{0} + {1} >= 0",), "text": ("length({0}) + length({1}) > 0",)}
WHERES = {"number": ("{0} >= 0", "{0} IS NOT NULL"), "text": ("{0} IS NOT NULL", "{0} <> ''")}
"""Predicates of partial indexes, by the family of the index's first column."""


def base(ctype: str) -> str:
    return ctype.split("(")[0]


def family(ctype: str) -> str:
    """``number``, ``text`` (text and string(n)) or the type's own name."""
    return "number" if ctype in NUMBERS else "text" if ctype in TEXTS else ctype


def scale(ctype: str) -> int:
    return int(ctype.rstrip(")").split(",")[1]) if base(ctype) == "decimal" else 0


def length(ctype: str) -> int | None:
    return int(ctype[len("string(") : -1]) if base(ctype) == "string" else None


def quantize(value: Decimal | float | int, ctype: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-scale(ctype)))


# ---------------------------------------------------------------------------------------------- values


def stored(ctype: str, number: int) -> Any:
    """The value the generator stores for row ``number`` in a column of ``ctype`` (normalised form).

    Distinct rows get distinct values, and none equals a default (see :data:`DEFAULTS`)."""
    b = base(ctype)
    if b in INTEGERS:
        return 1000 + number
    if b in ("real", "double"):
        return 1000.5 + number
    if b == "decimal":
        return quantize(Decimal("1000.25") + number, ctype)
    if b == "boolean":
        return number % 2
    if b in ("text", "string"):
        return f"v{number}'é"  # a quote and a non-ASCII letter: each engine must keep them as written
    if b == "date":
        return (datetime.date(2030, 1, 1) + datetime.timedelta(days=number)).isoformat()
    if b == "timestamp":
        return (datetime.datetime(2030, 1, 1) + datetime.timedelta(minutes=number)).strftime("%Y-%m-%d %H:%M:%S")
    if b == "json":
        return {"n": number}
    if b == "uuid":
        return f"00000000-0000-4000-8000-{number:012d}"
    assert b == "bytes", ctype
    return number.to_bytes(4, "big") + b"\x07"


DEFAULTS: dict[str, tuple[Any, ...]] = {
    "integer": (7, 8),
    "bigint": (7, 9),
    "smallint": (6, 7),
    "real": (0.5, 1.5),
    "double": (0.25, 2.5),
    "decimal(10,2)": (1.5, 2.25),
    "decimal(12,2)": (1.5, 3.75),
    "boolean": (True, False),
    "text": ("dflt", "it's"),
    "string(10)": ("dflt", "a\\b"),
    "string(20)": ("dflt", "ünï 'q'"),
    "date": ("2026-02-03", "2026-03-04"),
    "timestamp": ("2026-02-03 04:05:06", "2026-03-04 05:06:07"),
    "json": ({}, []),
    "uuid": ("6f1c1d2e-0000-4000-8000-000000000001", "6f1c1d2e-0000-4000-8000-000000000002"),
    "bytes": (),
}
"""Literal defaults per type, as a spec writes them; ``bytes`` takes none (SQLite's X'…' is not portable)."""
SQL_DEFAULTS = {"integer": ({"sql": "1 + 1"}, 2), "bigint": ({"sql": "2 * 3"}, 6)}
"""Expression defaults (portable to every engine) and the value each gives."""


def is_sql(default: Any) -> bool:
    return isinstance(default, dict) and set(default) == {"sql"}


def default_value(ctype: str, default: Any) -> Any:
    """The normalised value a row gets from ``default``."""
    if is_sql(default):
        return next(value for spec, value in SQL_DEFAULTS.values() if spec == default)
    if base(ctype) == "boolean":
        return int(default)
    if base(ctype) == "decimal":
        return quantize(default, ctype)
    if base(ctype) in ("real", "double"):
        return float(default)
    return default


def normalise(ctype: str, value: Any) -> Any:
    """A value read from any engine in the form the model keeps for ``ctype``."""
    if value is None:
        return None
    b = base(ctype)
    if b in INTEGERS:
        return int(value)
    if b == "boolean":
        return int(bool(value)) if isinstance(value, bool) else int(value)
    if b in ("real", "double"):
        return float(value)
    if b == "decimal":
        return quantize(value, ctype)
    if b == "json":
        return json.loads(value) if isinstance(value, str | bytes) else value
    if b == "date":
        return value.isoformat() if isinstance(value, datetime.date) else str(value)
    if b == "timestamp":
        if isinstance(value, datetime.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(datetime.UTC).replace(tzinfo=None)
            return value.strftime("%Y-%m-%d %H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "")
        return str(value)
    if b == "bytes":
        return bytes(value)
    return str(value)


def parameter(engine: str, ctype: str, value: Any) -> Any:
    """A normalised value as a driver parameter for ``engine``."""
    if value is None:
        return None
    if base(ctype) == "boolean":
        return bool(value) if engine == "postgresql" else int(value)
    if base(ctype) == "json":
        return json.dumps(value)
    if isinstance(value, Decimal) and engine == "sqlite":
        return float(value)  # exact: every stored decimal is a multiple of 0.25
    return value


# Type changes: old type → (new type, how a stored value converts, whether a value allows it).
Convert = Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


def _fits(limit: int) -> Callable[[Any], bool]:
    return lambda value: len(value) <= limit


def _always(value: Any) -> bool:
    return True


CONVERSIONS: dict[str, tuple[tuple[str, Convert, Callable[[Any], bool]], ...]] = {
    "integer": (
        ("bigint", _same, _always),
        ("smallint", _same, _always),
        ("text", str, _always),
        ("double", float, _always),
        ("decimal(12,2)", lambda v: quantize(v, "decimal(12,2)"), _always),
    ),
    "bigint": (("integer", _same, _always), ("text", str, _always)),
    "smallint": (("integer", _same, _always), ("bigint", _same, _always)),
    "real": (("double", _same, _always),),
    "double": (("real", _same, _always),),
    "decimal(10,2)": (("decimal(12,2)", _same, _always),),
    "decimal(12,2)": (("decimal(10,2)", _same, _always),),
    "text": (("string(20)", _same, _fits(20)),),
    "string(10)": (("string(20)", _same, _always), ("text", _same, _always)),
    "string(20)": (("string(10)", _same, _fits(10)), ("text", _same, _always)),
    "boolean": (("integer", int, _always),),
    "date": (("text", _same, _always),),
    "uuid": (("text", _same, _always),),
    "json": (("text", json.dumps, _always),),
}


# ---------------------------------------------------------------------------------------------- schema model


@dataclass
class Col:
    type: str
    nullable: bool = False
    default: Any = None
    """None: no default; else a literal as the spec writes it, or ``{"sql": …}``."""
    enum: list[Any] | None = None
    check: str | None = None
    """A template over ``{0}``, this column."""
    references: str | None = None
    """The parent table (its key column is the referenced one)."""
    on_delete: str | None = None
    on_update: str | None = None
    renamed_from: str | None = None
    added: int = 0
    """The version that made the column."""
    touched: int = 0
    """The version that made the column or last changed its values (one such change per version: a
    column's type changed twice in one version is one ALTER, whose conversion may differ)."""


@dataclass
class Idx:
    columns: list[tuple[str, bool]]
    """(column, descending)."""
    unique: bool = False
    where: str | None = None
    """A template over ``{0}``, the first column."""
    name: str | None = None
    flag: bool = False
    """Written as the column's ``unique: true``."""

    def generated(self, table: str) -> str:
        parts = [c + ("_desc" if desc else "") for c, desc in self.columns]
        return self.name or "_".join(("uq" if self.unique else "idx", table, *parts))


@dataclass
class TableCheck:
    name: str
    template: str
    columns: list[str]


@dataclass
class Tbl:
    columns: dict[str, Col]
    key: str
    indexes: list[Idx] = field(default_factory=list)
    checks: list[TableCheck] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)
    renamed_from: str | None = None
    extra_key: list[str] = field(default_factory=list)
    """Columns of a composite primary key after ``key`` (a table with one is never referenced)."""
    created: int = 1
    """The version that created the table."""
    audit_changed: int = 0

    def own_columns(self) -> list[str]:
        """Every column outside the primary key."""
        return [c for c in self.columns if c != self.key and c not in self.extra_key]

    def all_columns(self) -> dict[str, str]:
        """Every column, audit columns included, with its type."""
        found = {name: col.type for name, col in self.columns.items()}
        for group in self.audit:
            found |= {f"{group}_at": "timestamp", f"{group}_by": "text"}
        return found


def audit_row(groups: Sequence[str], number: int) -> Row:
    """The audit columns of a row: deleted rows on every other row where the table has that group."""
    row: Row = {}
    for group in groups:
        deleted = group == "deleted" and number % 2 == 0
        if group == "deleted" and not deleted:
            row |= {"deleted_at": None, "deleted_by": None}
        else:
            row |= {f"{group}_at": f"2026-01-0{1 + AUDIT_GROUPS.index(group)} 00:00:00", f"{group}_by": "ann"}
    return row


@dataclass
class State:
    """The schema after a version, and every row the database must hold."""

    tables: dict[str, Tbl] = field(default_factory=dict)
    rows: dict[str, list[Row]] = field(default_factory=dict)
    counter: int = 0
    row_counter: int = 0
    version: int = 1
    moves: dict[str, str] = field(default_factory=dict)
    """Tables renamed in this version: old name → new name."""

    def changeable(self, table: str) -> list[str]:
        """The table's columns outside its key whose values no change of this version made or changed."""
        t = self.tables[table]
        return [c for c in t.own_columns() if t.columns[c].touched < self.version]

    def fresh_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def parents(self, child: str | None) -> list[str]:
        """Tables ``child`` may reference: keyed by one column, and not referencing it in turn (itself included)."""
        return [
            p
            for p, t in self.tables.items()
            if not t.extra_key and (child is None or p == child or child not in self.ancestors(p))
        ]

    def children(self, parent: str) -> list[str]:
        """The other tables that reference ``parent``."""
        return [
            n for n, t in self.tables.items() if n != parent and any(c.references == parent for c in t.columns.values())
        ]

    def ancestors(self, name: str) -> set[str]:
        found: set[str] = set()
        todo = [name]
        while todo:
            current = todo.pop()
            for col in self.tables[current].columns.values():
                if col.references and col.references != current and col.references not in found:
                    found.add(col.references)
                    todo.append(col.references)
        return found

    def in_creation_order(self) -> list[str]:
        """Tables with every parent before its children."""
        done: list[str] = []
        while len(done) < len(self.tables):
            for name, table in self.tables.items():
                parents = {c.references for c in table.columns.values() if c.references} - {name}
                if name not in done and parents <= set(done):
                    done.append(name)
        return done

    def free(self, table: str, column: str) -> bool:
        """Whether the column's values are distinct per row (no enum, boolean or foreign key)."""
        col = self.tables[table].columns[column]
        return not (col.enum or col.references or col.type == "boolean") or column == self.tables[table].key

    def distinct(self, table: str, columns: Sequence[str]) -> bool:
        """Whether the rows are unique over ``columns`` (rows with a NULL in them never clash)."""
        seen = set()
        for row in self.rows.get(table, []):
            values = tuple(json.dumps(row[c], sort_keys=True, default=str) for c in columns)
            if any(row[c] is None for c in columns):
                continue
            if values in seen:
                return False
            seen.add(values)
        return True

    def values(self, table: str, column: str) -> list[Any]:
        return [row[column] for row in self.rows.get(table, [])]

    # --- documents

    def table_document(self, name: str, renames: bool) -> dict[str, Any]:
        table = self.tables[name]
        flagged = {i.columns[0][0] for i in table.indexes if i.flag}
        columns: dict[str, Any] = {}
        for cname, col in table.columns.items():
            body: dict[str, Any] = {"type": col.type}
            if cname == table.key and not table.extra_key:
                body["primary_key"] = True
            if col.nullable:
                body["nullable"] = True
            if col.default is not None:
                body["default"] = col.default
            if col.enum:
                body["enum"] = list(col.enum)
            if col.check:
                body["check"] = col.check.format(cname)
            if col.references:
                body["references"] = f"{col.references}.{self.tables[col.references].key}"
                if col.on_delete:
                    body["on_delete"] = col.on_delete
                if col.on_update:
                    body["on_update"] = col.on_update
            if cname in flagged:
                body["unique"] = True
            if renames and col.renamed_from:
                body["renamed_from"] = col.renamed_from
            columns[cname] = body
        audit: Any = "none" if not table.audit else "full" if len(table.audit) == 3 else list(table.audit)
        document: dict[str, Any] = {"audit": audit, "columns": columns}
        if table.extra_key:
            document["primary_key"] = [table.key, *table.extra_key]
        indexes = []
        for index in table.indexes:
            if index.flag:
                continue
            item: dict[str, Any] = {"columns": [{"name": c, "order": "desc"} if d else c for c, d in index.columns]}
            if index.unique:
                item["unique"] = True
            if index.where:
                item["where"] = index.where.format(index.columns[0][0])
            if index.name:
                item["name"] = index.name
            indexes.append(item)
        if indexes:
            document["indexes"] = indexes
        if table.checks:
            document["checks"] = [{"name": c.name, "expression": c.template.format(*c.columns)} for c in table.checks]
        if renames and table.renamed_from:
            document["renamed_from"] = table.renamed_from
        return document

    def fresh_spec(self) -> dict[str, Any]:
        """One spec of the schema as it is, with no renames."""
        return {
            "description": "The same shape, fresh.",
            "tables": {name: self.table_document(name, False) for name in self.tables},
        }

    def check_rows(self) -> None:
        """The model's own consistency: every row fits the schema (a failure is a generator bug)."""
        for name, table in self.tables.items():
            columns = table.all_columns()
            for row in self.rows.get(name, []):
                assert set(row) == set(columns), (name, sorted(row), sorted(columns))
                for cname, col in table.columns.items():
                    value = row[cname]
                    assert col.nullable or value is not None, (name, cname, row)
                    if value is not None and col.enum:
                        assert value in col.enum, (name, cname, value, col.enum)
                    if value is not None and col.references:
                        parent = self.tables[col.references]
                        assert value in self.values(col.references, parent.key), (name, cname, value)
                    if value is not None and length(col.type):
                        assert len(value) <= (length(col.type) or 0), (name, cname, value)
            for index in table.indexes:
                if index.unique:
                    assert self.distinct(name, [c for c, _ in index.columns]), (name, index)


# ---------------------------------------------------------------------------------------------- the strategy


@dataclass
class Version:
    """One spec, the rows inserted before it runs, and what the database must hold after it."""

    spec: dict[str, Any]
    inserts: list[tuple[str, Row]]
    """(table, row) inserted before this version, in order (parents first)."""
    state: State
    """The schema and rows after this version."""
    changes: list[str]
    batch: int = 0
    """How many rows each table got before this version."""

    def first_rows(self, batch: int) -> State:
        """The state with only the rows inserted before version 2 (``batch`` per table then)."""
        state = copy.deepcopy(self.state)
        for name, table in state.tables.items():
            keep = table.created == 1
            state.rows[name] = [r for r in state.rows[name] if keep and r[table.key] <= batch]
        return state


@dataclass
class History:
    engine: str
    versions: list[Version]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # hypothesis shows the specs, not every field of the model

    def __repr__(self) -> str:
        lines = [f"History on {self.engine}:"]
        for number, version in enumerate(self.versions, 1):
            lines.append(f"  rows inserted before version {number}: {len(version.inserts)}")
            lines.append(f"  version {number} ({'; '.join(version.changes)}):")
            lines.append("    " + json.dumps(version.spec, default=str))
        return "\n".join(lines)


def _draw_default(draw: st.DrawFn, ctype: str, col: Col) -> Any:
    """A literal default for ``col`` that fits its enum and checks, or None when the type takes none."""
    if col.enum:
        return draw(st.sampled_from(col.enum))
    choices: list[Any] = list(DEFAULTS[ctype])
    if ctype in SQL_DEFAULTS:
        choices.append(SQL_DEFAULTS[ctype][0])
    return draw(st.sampled_from(choices)) if choices else None


def _enum_for(state: State, ctype: str, held: Sequence[Any]) -> list[Any]:
    """An enum of a text or integer column holding every value in ``held`` and one new value."""
    extra = state.fresh_name("e")
    new: Any = extra + "'" if ctype in TEXTS else 100 + int(extra[1:])
    return sorted({v for v in held if v is not None} | {new}, key=str)


def spec_literal(ctype: str, value: Any) -> Any:
    """A normalised value as a spec writes it as a default."""
    if base(ctype) == "decimal":
        return float(value)
    return bool(value) if base(ctype) == "boolean" else value


def _new_column(draw: st.DrawFn, state: State, table: str | None, adding: bool) -> Col:
    """A random column; ``adding``: to a table with rows, so NOT NULL needs a default."""
    ctype = draw(st.sampled_from(TYPES))
    col = Col(ctype, nullable=draw(st.booleans()), added=state.version, touched=state.version)
    if draw(st.integers(0, 3)) == 0 and (ctype in TEXTS or ctype in INTEGERS):
        col.enum = _enum_for(state, ctype, [])
    if family(ctype) in CHECKS and draw(st.integers(0, 3)) == 0:
        col.check = draw(st.sampled_from(CHECKS[family(ctype)]))
    wants_default = draw(st.booleans()) or (adding and not col.nullable)
    if wants_default:
        col.default = _draw_default(draw, ctype, col)
    if adding and not col.nullable and col.default is None:
        col.nullable = True  # a NOT NULL column without a default cannot be added to a table with rows
    return col


def _add_table(draw: st.DrawFn, state: State, engine: str) -> tuple[str, str]:
    name = state.fresh_name("t")
    key = "id"
    columns: dict[str, Col] = {key: Col("integer", added=state.version, touched=state.version)}
    parents = state.parents(None)
    for _ in range(draw(st.integers(1, 4))):
        cname = state.fresh_name("c")
        if parents and draw(st.integers(0, 3)) == 0:
            nullable = draw(st.booleans())
            on_delete = draw(st.sampled_from(actions(engine, nullable)))
            on_update = draw(st.sampled_from(actions(engine, nullable)))
            parent = draw(st.sampled_from(parents))
            columns[cname] = Col("integer", nullable=nullable, references=parent, on_delete=on_delete)
            columns[cname].on_update = on_update
            columns[cname].added = columns[cname].touched = state.version
        else:
            columns[cname] = _new_column(draw, state, None, False)
    audit = list(draw(st.sampled_from([(), (), AUDIT_GROUPS, ("created",), ("deleted",)])))
    table = Tbl(columns, key, audit=audit, created=state.version)
    state.tables[name] = table
    state.rows[name] = []
    for _ in range(draw(st.integers(0, 2))):
        _add_index(draw, state, engine, name)
    if draw(st.integers(0, 3)) == 0:
        _add_table_check(draw, state, engine, name)
    return name, f"create {name}"


def _indexable(state: State, table: str, engine: str) -> list[str]:
    return [c for c, col in state.tables[table].columns.items() if col.type != "json" or engine not in JSON_IN_INDEX]


def _add_index(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    candidates = _indexable(state, table, engine)
    if not candidates:
        return None
    columns = [draw(st.sampled_from(candidates))]
    if len(candidates) > 1 and draw(st.booleans()):
        columns.append(draw(st.sampled_from([c for c in candidates if c != columns[0]])))
    index = Idx([(c, draw(st.integers(0, 3)) == 0) for c in columns])
    wants_unique = draw(st.booleans())
    if wants_unique and any(state.free(table, c) for c in columns) and state.distinct(table, columns):
        index.unique = True
    first = family(t.columns[columns[0]].type)
    if first in WHERES and draw(st.integers(0, 3)) == 0 and not (index.unique and engine == "mariadb"):
        index.where = draw(st.sampled_from(WHERES[first]))
    if draw(st.integers(0, 4)) == 0:
        index.name = state.fresh_name("ix")
    elif index.unique and len(columns) == 1 and not index.where and not index.columns[0][1] and columns[0] != t.key:
        index.flag = draw(st.booleans())
    names = {i.generated(table) for i in t.indexes}
    if index.generated(table) in names:
        return None
    t.indexes.append(index)
    return f"index {index.generated(table)} on {table}"


def _checkable(col: Col, engine: str) -> bool:
    return family(col.type) in CHECKS and not (col.references and engine in CHECKED_KEY_COLUMN)


def _add_table_check(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    by_family: dict[str, list[str]] = {}
    for cname, col in t.columns.items():
        if _checkable(col, engine):
            by_family.setdefault(family(col.type), []).append(cname)
    options = [(f, cs) for f, cs in by_family.items() if f in CHECKS]
    if not options:
        return None
    fam, columns = draw(st.sampled_from(options))
    if len(columns) > 1 and draw(st.booleans()):
        picked = draw(st.lists(st.sampled_from(columns), min_size=2, max_size=2, unique=True))
        template = draw(st.sampled_from(PAIR_CHECKS[fam]))
    else:
        picked = [draw(st.sampled_from(columns))]
        template = draw(st.sampled_from(CHECKS[fam]))
    name = state.fresh_name("k")
    t.checks.append(TableCheck(name, template, picked))
    return f"check {name} on {table}"


def _forget(table: Tbl, column: str) -> None:
    """Drop the indexes and table checks that use ``column``."""
    table.indexes = [i for i in table.indexes if column not in [c for c, _ in i.columns]]
    table.checks = [c for c in table.checks if column not in c.columns]


def _unique_needs(state: State, table: str, column: str) -> bool:
    """Whether ``column`` is the only column with distinct values in one of the table's unique indexes."""
    t = state.tables[table]
    for index in t.indexes:
        names = [c for c, _ in index.columns]
        if index.unique and column in names and not any(state.free(table, c) for c in names if c != column):
            return True
    return False


# Each change works on one table, which it may only change if the rows present allow it; it returns a
# description, or None when it does not apply (the version then tries another).


def change_add_column(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    name = state.fresh_name("c")
    col = _new_column(draw, state, table, True)
    items = list(t.columns.items())
    position = draw(st.integers(1, len(items))) if draw(st.booleans()) else len(items)
    items.insert(position, (name, col))
    t.columns = dict(items)
    value = None if col.default is None else default_value(col.type, col.default)
    for row in state.rows[table]:
        row[name] = value
    return f"add {table}.{name} {col.type}"


def change_drop_column(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    candidates = t.own_columns()
    if not candidates:
        return None
    name = draw(st.sampled_from(candidates))
    del t.columns[name]
    _forget(t, name)
    for row in state.rows[table]:
        del row[name]
    return f"drop {table}.{name}"


def change_rename_column(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    old = draw(st.sampled_from(list(t.columns)))
    new = state.fresh_name("c")
    t.columns = {(new if n == old else n): c for n, c in t.columns.items()}
    col = t.columns[new]
    if col.renamed_from is None and col.added < state.version:
        col.renamed_from = old  # not for a column this version made; a second rename keeps the first name
    if t.key == old:
        t.key = new
    t.extra_key = [new if c == old else c for c in t.extra_key]
    for index in t.indexes:
        index.columns = [(new if c == old else c, d) for c, d in index.columns]
    for check in t.checks:
        check.columns = [new if c == old else c for c in check.columns]
    for row in state.rows[table]:
        row[new] = row.pop(old)
    return f"rename {table}.{old} to {new}"


def change_type(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    options = []
    for cname, col in t.columns.items():
        if cname not in state.changeable(table) or col.references:
            continue
        values = [v for v in state.values(table, cname) if v is not None]
        for new, convert, allowed in CONVERSIONS.get(col.type, ()):
            if not all(allowed(v) for v in values):
                continue
            if col.enum and new in TEXTS and not all(_fits_type(new, v) for v in col.enum):
                continue
            options.append((cname, new, convert))
    if not options:
        return None
    cname, new, convert = draw(st.sampled_from(options))
    col = t.columns[cname]
    col.touched = state.version
    old = col.type
    same_family = family(new) == family(old)
    if col.enum and not (same_family and (new in TEXTS or new in INTEGERS)):
        col.enum = None
    if not same_family:
        col.check = None
        t.checks = [c for c in t.checks if cname not in c.columns]
        t.indexes = [
            i
            for i in t.indexes
            if not (i.where and cname == i.columns[0][0] and i.where not in WHERES.get(family(new), ()))
        ]
    if is_sql(col.default):
        col.default = None  # an expression need not fit the new type
    elif col.default is not None:
        converted = spec_literal(new, convert(default_value(old, col.default)))
        col.default = converted if _fits_type(new, converted) else None
    col.type = new
    for row in state.rows[table]:
        if row[cname] is not None:
            row[cname] = convert(row[cname])
    return f"type of {table}.{cname}: {old} -> {new}"


def _fits_type(ctype: str, value: Any) -> bool:
    limit = length(ctype)
    return limit is None or len(str(value)) <= limit


def change_nullability(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    candidates = state.changeable(table)
    if not candidates:
        return None
    cname = draw(st.sampled_from(candidates))
    col = t.columns[cname]
    col.touched = state.version
    if not col.nullable:
        col.nullable = True
        return f"{table}.{cname} nullable"
    nulls = any(v is None for v in state.values(table, cname))
    if nulls and (col.references or any(i.unique and cname in [c for c, _ in i.columns] for i in t.indexes)):
        return None  # the default would be one value in many rows, or no parent's key
    if nulls and col.default is None:
        col.default = _draw_default(draw, col.type, col)
        if col.default is None:
            return None
    col.nullable = False
    col.on_delete = None if col.on_delete in ("set null", "set default") else col.on_delete
    col.on_update = None if col.on_update in ("set null", "set default") else col.on_update
    if nulls:
        filled = default_value(col.type, col.default)
        for row in state.rows[table]:
            if row[cname] is None:
                row[cname] = filled
    return f"{table}.{cname} NOT NULL" + (" (NULLs get the default)" if nulls else "")


def change_default(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    candidates = [c for c in state.changeable(table) if not t.columns[c].references and DEFAULTS[t.columns[c].type]]
    if not candidates:
        return None
    cname = draw(st.sampled_from(candidates))
    col = t.columns[cname]
    col.touched = state.version
    if col.default is not None and draw(st.booleans()):
        col.default = None  # NOT NULL without a default is fine for the rows present
        return f"drop default of {table}.{cname}"
    options = [d for d in (col.enum or [*DEFAULTS[col.type], *SQL_DEFAULTS.get(col.type, ())[:1]]) if d != col.default]
    if not options:
        return None
    col.default = draw(st.sampled_from(options))
    return f"default of {table}.{cname}: {col.default!r}"


def change_enum(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    candidates = [
        c
        for c in state.changeable(table)
        if (t.columns[c].type in TEXTS or t.columns[c].type in INTEGERS) and not t.columns[c].references
    ]
    if not candidates:
        return None
    cname = draw(st.sampled_from(candidates))
    col = t.columns[cname]
    col.touched = state.version
    if is_sql(col.default):
        return None  # an SQL default is not a value an enum can list
    held = set(state.values(table, cname)) | ({col.default} if col.default is not None else set())
    if not col.enum:
        if _unique_needs(state, table, cname):
            return None
        col.enum = _enum_for(state, col.type, list(held))
        if not all(_fits_type(col.type, v) for v in col.enum):
            return None
        return f"enum on {table}.{cname}"
    kind = draw(st.sampled_from(["widen", "narrow", "drop"]))
    if kind == "drop":
        col.enum = None
        return f"drop enum of {table}.{cname}"
    if kind == "narrow":
        removable = [v for v in col.enum if v not in held]
        if len(col.enum) < 2 or not removable:
            return None
        col.enum = [v for v in col.enum if v != draw(st.sampled_from(removable))]
        return f"narrow enum of {table}.{cname}"
    col.enum = _enum_for(state, col.type, col.enum)
    return f"widen enum of {table}.{cname}"


def change_check(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    kind = draw(st.sampled_from(["column", "table", "drop table", "body"]))
    if kind == "column":
        candidates = [c for c in t.own_columns() if _checkable(t.columns[c], engine)]
        if not candidates:
            return None
        cname = draw(st.sampled_from(candidates))
        col = t.columns[cname]
        options = [None, *CHECKS[family(col.type)]]
        col.check = draw(st.sampled_from([o for o in options if o != col.check]))
        return f"check of {table}.{cname}: {col.check}"
    if kind == "table" or not t.checks:
        return _add_table_check(draw, state, engine, table)
    check = draw(st.sampled_from(t.checks))
    if kind == "drop table":
        t.checks.remove(check)
        return f"drop check {check.name} of {table}"
    fam = family(t.columns[check.columns[0]].type)
    pool = PAIR_CHECKS[fam] if len(check.columns) == 2 else CHECKS[fam]
    others = [p for p in pool if p != check.template]
    if not others:
        return None
    check.template = draw(st.sampled_from(others))
    return f"new body of check {check.name} of {table}"


def change_index(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    kind = draw(st.sampled_from(["add", "drop", "modify"]))
    if kind == "add" or not t.indexes:
        return _add_index(draw, state, engine, table)
    index = draw(st.sampled_from(t.indexes))
    if kind == "drop":
        t.indexes.remove(index)
        return f"drop index {index.generated(table)} of {table}"
    columns = [c for c, _ in index.columns]
    if index.unique:
        index.unique = False
    elif (
        any(state.free(table, c) for c in columns)
        and state.distinct(table, columns)
        and not (index.where and engine == "mariadb")
    ):
        index.unique = True
    else:
        index.columns = [(c, not d) for c, d in index.columns]
    index.flag = False
    if [i.generated(table) for i in t.indexes].count(index.generated(table)) > 1:
        return None
    return f"modify index {index.generated(table)} of {table}"


def change_foreign_key(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    keyed = [c for c in t.own_columns() if t.columns[c].references]
    kind = draw(st.sampled_from(["add", "drop", "action"]))
    if kind == "add" or not keyed:
        parents = state.parents(table)
        if not parents:
            return None
        parent = draw(st.sampled_from(parents))
        name = state.fresh_name("c")
        t.columns[name] = Col("integer", nullable=True, references=parent, added=state.version)
        t.columns[name].touched = state.version
        t.columns[name].on_delete = draw(st.sampled_from(actions(engine, True)))
        t.columns[name].on_update = draw(st.sampled_from(actions(engine, True)))
        for row in state.rows[table]:
            row[name] = None
        return f"add {table}.{name} references {parent}"
    cname = draw(st.sampled_from(keyed))
    col = t.columns[cname]
    if kind == "drop":
        col.references, col.on_delete, col.on_update = None, None, None
        return f"drop foreign key of {table}.{cname}"
    which = draw(st.sampled_from(["on_delete", "on_update"]))
    options = [a for a in actions(engine, col.nullable) if a != getattr(col, which)]
    setattr(col, which, draw(st.sampled_from(options)))
    return f"{which} of {table}.{cname}: {getattr(col, which)}"


def change_audit(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    if t.audit_changed == state.version:
        return None  # a group dropped and added again in one version is no change, and keeps its values
    t.audit_changed = state.version
    # Adding created or updated to a table with rows is never possible: their columns are NOT NULL
    # without a default. A table gets them when it is created.
    options = [("drop", g) for g in t.audit] + ([("add", "deleted")] if "deleted" not in t.audit else [])
    if not options:
        return None
    kind, group = draw(st.sampled_from(options))
    if kind == "add":
        t.audit = [g for g in AUDIT_GROUPS if g in t.audit or g == group]
        for row in state.rows[table]:
            row |= {"deleted_at": None, "deleted_by": None}
    else:
        t.audit.remove(group)
        for row in state.rows[table]:
            del row[f"{group}_at"], row[f"{group}_by"]
    return f"audit of {table}: {kind} {group}"


def change_reorder(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    t = state.tables[table]
    items = list(t.columns.items())
    if len(items) < 3:
        return None
    moved = items.pop(draw(st.integers(1, len(items) - 1)))
    items.insert(draw(st.integers(0, len(items))), moved)
    if [n for n, _ in items] == list(t.columns):
        return None
    t.columns = dict(items)
    return f"reorder {table}"


def change_key(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    """A composite primary key (the key column and one more), or back to the key column alone."""
    t = state.tables[table]
    if t.extra_key:
        t.extra_key = []
        return f"primary key of {table}: {t.key}"
    candidates = [
        c
        for c in t.own_columns()
        if not t.columns[c].nullable
        and not t.columns[c].references
        and (t.columns[c].type != "json" or engine not in JSON_IN_INDEX)
    ]
    if state.children(table) or any(c.references == table for c in t.columns.values()) or not candidates:
        return None
    t.extra_key = [draw(st.sampled_from(candidates))]
    return f"primary key of {table}: {t.key}, {t.extra_key[0]}"


def change_rename_table(draw: st.DrawFn, state: State, engine: str, table: str) -> str | None:
    new = state.fresh_name("t")
    state.tables = {(new if n == table else n): t for n, t in state.tables.items()}
    if state.tables[new].renamed_from is None and state.tables[new].created < state.version:
        state.tables[new].renamed_from = table  # not for a table this version made; a second rename keeps the first
    state.moves = {old: (new if moved == table else moved) for old, moved in state.moves.items()}
    state.moves[table] = new
    for other in state.tables.values():
        for col in other.columns.values():
            if col.references == table:
                col.references = new
    state.rows[new] = state.rows.pop(table)
    return f"rename {table} to {new}"


TABLE_CHANGES: dict[str, tuple[int, Callable[[st.DrawFn, State, str, str], str | None]]] = {
    "add column": (3, change_add_column),
    "drop column": (2, change_drop_column),
    "rename column": (2, change_rename_column),
    "type": (3, change_type),
    "nullability": (2, change_nullability),
    "default": (2, change_default),
    "enum": (2, change_enum),
    "check": (3, change_check),
    "index": (4, change_index),
    "foreign key": (2, change_foreign_key),
    "audit": (1, change_audit),
    "reorder": (1, change_reorder),
    "key": (1, change_key),
    "rename table": (1, change_rename_table),
}
"""Each change of one table, with its weight in the draw."""
WEIGHTED = [name for name, (weight, _) in TABLE_CHANGES.items() for _ in range(weight)]


def _insert_rows(draw: st.DrawFn, state: State) -> list[tuple[str, Row]]:
    """New rows in every table (parents first), each fitting every constraint; added to the model."""
    inserted = []
    count = draw(st.integers(1, 2))
    for name in state.in_creation_order():
        table = state.tables[name]
        for _ in range(count):
            number = state.row_counter
            state.row_counter += 1
            row: Row = {table.key: len(state.rows[name]) + 1}
            for cname, col in table.columns.items():
                if cname == table.key:
                    continue
                if col.nullable and (number + len(cname)) % 3 == 1:
                    row[cname] = None
                elif col.references:
                    parent = state.tables[col.references]
                    keys = state.values(col.references, parent.key)
                    if col.references == name:
                        keys = [*keys, row[table.key]]  # a row may reference itself or an earlier one
                    row[cname] = keys[number % len(keys)]
                elif col.enum:
                    row[cname] = col.enum[number % len(col.enum)]
                else:
                    row[cname] = stored(col.type, number)
            row |= audit_row(table.audit, number)
            state.rows[name].append(row)
            inserted.append((name, dict(row)))
    return inserted


@st.composite
def histories(draw: st.DrawFn, engine: str, max_versions: int = 5) -> History:
    """A first version of 1 to 3 tables, then follow-ups of 1 to 3 changes, each after new rows in every table."""
    state = State()
    changes = [_add_table(draw, state, engine)[1] for _ in range(draw(st.integers(1, 3)))]
    first = {"description": "Random tables.", "tables": {n: state.table_document(n, True) for n in state.tables}}
    versions = [Version(first, [], copy.deepcopy(state), changes)]
    for number in range(2, draw(st.integers(2, max_versions)) + 1):
        state.version = number
        inserts = _insert_rows(draw, state)
        state.moves = {}
        touched: set[str] = set()
        dropped: list[str] = []
        changes = []
        for _ in range(draw(st.integers(1, 4))):
            untouched = [n for n in state.tables if n not in touched and state.tables[n].created < number]
            kinds = ["table"] * 8 + ["new table"] * (len(state.tables) < 5)
            kinds += ["drop table"] * (len(untouched) > 1) + ["drop parent"] * (len(untouched) > 1)
            kind = draw(st.sampled_from(kinds))
            if kind == "new table":
                name, change = _add_table(draw, state, engine)
                touched.add(name)
                changes.append(change)
            elif kind == "drop table":
                leaves = [n for n in untouched if not state.children(n)]
                if not leaves or len(state.tables) < 2:
                    continue
                name = draw(st.sampled_from(leaves))
                del state.tables[name], state.rows[name]
                dropped.append(name)
                changes.append(f"drop table {name}")
            elif kind == "drop parent":
                parents = [n for n in untouched if state.children(n)]
                if not parents:
                    continue
                name = draw(st.sampled_from(parents))
                for child in state.children(name):  # their keys to it go in the same version
                    shape = state.tables[child]
                    for cname in [c for c, col in shape.columns.items() if col.references == name]:
                        del shape.columns[cname]
                        _forget(shape, cname)
                        for row in state.rows[child]:
                            del row[cname]
                    touched.add(child)
                del state.tables[name], state.rows[name]
                dropped.append(name)
                changes.append(f"drop table {name} and the keys to it")
            else:
                table = draw(st.sampled_from(list(state.tables)))
                what = draw(st.sampled_from(WEIGHTED))
                before = copy.deepcopy(state)
                made = TABLE_CHANGES[what][1](draw, state, engine, table)
                if made is None:
                    state = before  # a change the rows present do not allow leaves nothing behind
                    continue
                touched = {state.moves.get(n, n) for n in touched | {table}}
                changes.append(made)
        if not touched and not dropped:
            name, change = _add_table(draw, state, engine)
            touched.add(name)
            changes.append(change)
        state.check_rows()
        spec: dict[str, Any] = {"description": "A random follow-up.", "allow_destructive": True}
        spec["tables"] = {n: state.table_document(n, True) for n in state.tables if n in touched}
        if not spec["tables"]:
            del spec["tables"]
        if dropped:
            spec["drop_tables"] = dropped
        for shape in state.tables.values():
            shape.renamed_from = None
            for col in shape.columns.values():
                col.renamed_from = None
        batch = len(inserts) // len(before_rows) if (before_rows := {t for t, _ in inserts}) else 0
        versions.append(Version(spec, inserts, copy.deepcopy(state), changes, batch))
    return History(engine, versions)


# ---------------------------------------------------------------------------------------------- catalogs


def _balanced(text: str, start: int) -> str:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    raise AssertionError(f"unbalanced: {text[start:]}")


_QUOTED = re.compile(r'"([a-z_][a-z0-9_]*)"|`([a-z_][a-z0-9_]*)`')


def expression(text: str | None) -> str | None:
    """An expression with identifier quotes and spacing normalised (renames re-quote names)."""
    if text is None:
        return None
    text = _QUOTED.sub(lambda m: m.group(1) or m.group(2), text)
    return " ".join(text.split())


def sqlite_catalog(query: Query) -> dict[str, Any]:
    """Every table as SQLite's catalog shows it: columns (by name: a column added later sits after the
    others), key, indexes, foreign keys, checks."""
    found: dict[str, Any] = {}
    tables = query("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    for name, sql in tables:
        if name in OWN_TABLES:
            continue
        info = query(f'PRAGMA table_info("{name}")')
        indexes = {}
        for row in query(f'PRAGMA index_list("{name}")'):
            index, unique, origin = row[1], row[2], row[3]
            if origin == "pk":
                continue
            parts = tuple((r[2], r[3]) for r in query(f'PRAGMA index_xinfo("{index}")') if r[5])
            (index_sql,) = query("SELECT sql FROM sqlite_master WHERE name = ?", (index,))[0]
            where = re.split(r"\bWHERE\b", index_sql, maxsplit=1, flags=re.IGNORECASE)
            indexes[index] = (bool(unique), parts, expression(where[1]) if len(where) > 1 else None)
        names = {
            tuple(c.strip().strip('"') for c in cols.split(",")): fk
            for fk, cols in re.findall(r'CONSTRAINT "([^"]+)" FOREIGN KEY \(([^)]*)\)', sql)
        }
        # A key written in its column's definition by ALTER TABLE … ADD COLUMN.
        names.update(((c,), fk) for c, fk in re.findall(r'"([^"]+)" [A-Z]+\s+CONSTRAINT "([^"]+)" REFERENCES', sql))
        grouped: dict[int, list[tuple[Any, ...]]] = {}
        for row in query(f'PRAGMA foreign_key_list("{name}")'):
            grouped.setdefault(row[0], []).append(row)
        fks = {}
        for parts_ in grouped.values():
            cols = tuple(r[3] for r in parts_)
            fks[names.get(cols, "?")] = (cols, parts_[0][2], tuple(r[4] for r in parts_), parts_[0][6], parts_[0][5])
        checks = {
            m.group(1): expression(_balanced(sql, m.end() - 1))
            for m in re.finditer(r'CONSTRAINT "([^"]+)" CHECK \(', sql)
        }
        found[name] = {
            "columns": {r[1]: (r[2].lower(), bool(r[3]), expression(r[4])) for r in info},
            "primary_key": tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])),
            "primary_key_name": re.findall(r'CONSTRAINT "([^"]+)" PRIMARY KEY', sql),
            "indexes": indexes,
            "foreign_keys": fks,
            "checks": checks,
        }
    return found


def postgresql_catalog(query: Query) -> dict[str, Any]:
    """Every table of the current schema as pg_catalog shows it (column order left out)."""
    schema = "n.nspname = current_schema() AND c.relkind = 'r'"
    found: dict[str, Any] = {}
    for (name,) in query(
        f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {schema}"
    ):
        if name not in OWN_TABLES:
            found[name] = {"columns": {}, "constraints": {}, "indexes": {}}
    for table, column, ctype, notnull, default in query(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE {schema} AND a.attnum > 0 AND NOT a.attisdropped"
    ):
        if table in found:
            found[table]["columns"][column] = (ctype, notnull, default)
    for table, constraint, kind, definition in query(
        "SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid) FROM pg_constraint con "
        f"JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {schema}"
    ):
        if table in found:
            found[table]["constraints"][constraint] = (kind, definition)
    for table, index, definition in query(
        "SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {schema}"
    ):
        if table in found:
            found[table]["indexes"][index] = definition
    return found


def mariadb_catalog(query: Query) -> dict[str, Any]:
    """Every table of the database as information_schema shows it (column order left out)."""
    where = "TABLE_SCHEMA = DATABASE()"
    found: dict[str, Any] = {}
    for (name,) in query(f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE {where}"):
        if name not in OWN_TABLES:
            found[name] = {"columns": {}, "indexes": {}, "foreign_keys": {}, "checks": {}}
    for table, column, ctype, nullable, default, extra in query(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
        f"FROM information_schema.COLUMNS WHERE {where}"
    ):
        if table in found:
            found[table]["columns"][column] = (ctype, nullable, default, extra)
    fk_names: dict[str, set[str]] = {}
    for table, name, column, ref_table, ref_column, on_delete, on_update in query(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, "
        "r.DELETE_RULE, r.UPDATE_RULE FROM information_schema.KEY_COLUMN_USAGE k "
        "JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.TABLE_SCHEMA "
        "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL ORDER BY k.ORDINAL_POSITION"
    ):
        if table in found:
            found[table]["foreign_keys"].setdefault(name, []).append(
                (column, ref_table, ref_column, on_delete, on_update)
            )
            fk_names.setdefault(table, set()).add(name)
    for table, index, non_unique, column, collation, part in query(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, COLLATION, SUB_PART "
        f"FROM information_schema.STATISTICS WHERE {where} ORDER BY SEQ_IN_INDEX"
    ):
        # InnoDB makes an index for a foreign key that no other index serves, and drops it again when one
        # does: whether it exists depends on the order indexes and keys were made, not on the schema.
        if table in found and index not in fk_names.get(table, set()):
            found[table]["indexes"].setdefault(index, []).append((int(non_unique), column, collation, part))
    for table, name, clause in query(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = DATABASE()"
    ):
        if table in found:
            found[table]["checks"][name] = expression(clause)
    return found


CATALOGS = {"sqlite": sqlite_catalog, "postgresql": postgresql_catalog, "mariadb": mariadb_catalog}


def differences(evolved: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Every difference between two catalogs, one line each (empty when they are equal)."""
    found = [f"table {t}: only in the evolved database" for t in sorted(evolved.keys() - fresh.keys())]
    found += [f"table {t}: only in the fresh build" for t in sorted(fresh.keys() - evolved.keys())]
    for table in sorted(evolved.keys() & fresh.keys()):
        for part in sorted(evolved[table]):
            a, b = evolved[table][part], fresh[table][part]
            if a == b:
                continue
            if isinstance(a, dict):
                for key in sorted(a.keys() | b.keys(), key=str):
                    if a.get(key) != b.get(key):
                        found.append(f"{table} {part} {key}: evolved {a.get(key)!r}, fresh {b.get(key)!r}")
            else:
                found.append(f"{table} {part}: evolved {a!r}, fresh {b!r}")
    return found
