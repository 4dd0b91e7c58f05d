"""Engine types back to logical types: the one place the dialects' type tables are inverted.

An engine type maps *exactly* to every logical type that the dialect writes as that type (as its
catalog spells it: :func:`exact_types` works it out from :class:`~schemac.dialects.Dialect` itself, so
it cannot disagree with what ``build`` writes and ``verify`` expects). Where several do (SQLite writes
``TEXT`` for text, string, timestamp, date, json and uuid), the checks the dialect derives for a
column (``_bool``, ``_length``, ``_json``) decide first, then the column's name
(:data:`NAME_HINTS`), then :data:`PREFERENCE`. A type no logical type gives maps to its *nearest*
one (:data:`NEAREST`), which the importer reports, since ``verify`` will then see another type.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType

from schemac import dialects
from schemac.applier.verification import catalog_type
from schemac.dialects import Dialect
from schemac.model import ColumnType

PREFERENCE = (
    "text",
    "integer",
    "double",
    "decimal",
    "bytes",
    "bigint",
    "smallint",
    "real",
    "boolean",
    "string",
    "timestamp",
    "date",
    "json",
    "uuid",
)
"""Among the logical types a dialect writes as one engine type, the one chosen when nothing else decides."""

NEEDS_CHECK = MappingProxyType({"boolean": "boolean", "string": "length", "json": "json"})
"""Logical type → the kind of derived check that tells it apart, where the dialect derives one (a SQLite
``INTEGER`` is a boolean only with its ``IN (0, 1)`` check; a ``TEXT`` a ``string(n)`` only with its
length check)."""

PLAIN: Mapping[str, ColumnType] = MappingProxyType(
    {"boolean": ColumnType("integer"), "string": ColumnType("text"), "json": ColumnType("text")}
)
"""A type told apart only by its derived check → the type a column without that check (or with another
body) is imported as instead."""

NAME_HINTS: tuple[tuple[str, str], ...] = (("_at", "timestamp"), ("_json", "json"))
"""Column name suffix → the logical type preferred for it when the engine type fits several (a SQLite
``TEXT`` named ``created_at`` is a timestamp), provided that its default fits that type."""

DEFAULT_PARAMETERS: Mapping[str, tuple[int, int]] = MappingProxyType({"decimal": (38, 10)})
"""Parameters for a logical type whose engine type keeps none (SQLite's ``NUMERIC``, PostgreSQL's
unconstrained ``numeric``): precision and scale that every supported engine takes."""

NEAREST: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        # SQLite's own affinity rules (https://www.sqlite.org/datatype3.html), after the names that
        # say more than the affinity does.
        "sqlite": (
            (r"bool(ean)?", "boolean"),
            (r"date", "date"),
            (r"(datetime|timestamp)(\(\d+\))?( with(out)? time zone)?", "timestamp"),
            (r"jsonb?", "json"),
            (r"uuid", "uuid"),
            (r"(decimal|numeric)\((?P<a>\d+), ?(?P<b>\d+)\)", "decimal({a},{b})"),
            (r"(decimal|numeric)(\(\d+\))?", "decimal"),
            (r"(national )?(var)?char(acter)?( varying)?\((?P<a>\d+)\)", "string({a})"),
            (r"(nvarchar|nchar|varying character|native character)\((?P<a>\d+)\)", "string({a})"),
            (r"big ?int.*|int8", "bigint"),
            (r"(small|tiny)int.*|int2", "smallint"),
            (r".*int.*", "integer"),
            (r".*(char|clob|text).*", "text"),
            (r"|.*blob.*", "bytes"),
            (r"float", "real"),
            (r".*(real|floa|doub).*", "double"),
            (r".*", "decimal"),
        ),
        "postgresql": (
            (r"timestamp(\(\d+\))?( with(out)? time zone)?", "timestamp"),
            (r"character\((?P<a>\d+)\)", "string({a})"),
            (r"character varying|character|name|citext", "text"),
            (r"json", "json"),
            (r"numeric", "decimal"),
            (r"numeric\((?P<a>\d+)\)", "decimal({a},0)"),
            (r"bit(\(1\))?", "boolean"),
            (r".*", "text"),
        ),
        "mariadb": (
            (r"(var)?char\((?P<a>\d+)\)", "string({a})"),
            (r"(tiny|medium|long)?text", "text"),
            (r"tinyint\(1\)|bit\(1\)|bool(ean)?", "boolean"),
            (r"(tinyint|smallint)(\(\d+\))?( unsigned)?", "smallint"),
            (r"(mediumint|int)(\(\d+\))?( unsigned)?", "integer"),
            (r"bigint(\(\d+\))?( unsigned)?", "bigint"),
            (r"(datetime|timestamp)(\(\d+\))?", "timestamp"),
            (r"(tiny|medium|long)?blob|(var)?binary\(\d+\)", "bytes"),
            (r"float(\(\d+(,\d+)?\))?", "real"),
            (r"double( precision)?(\(\d+,\d+\))?", "double"),
            (r"(decimal|numeric)\((?P<a>\d+),(?P<b>\d+)\)", "decimal({a},{b})"),
            (r"json", "json"),
            (r"uuid", "uuid"),
            (r".*", "text"),
        ),
    }
)
"""Dialect → (engine type pattern, logical type) for types no logical type gives, first match wins:
the nearest logical type, parameters taken from the engine type's."""

_PARAMETER = re.compile(r"\\\{(length|scale)\\\}")


@functools.cache
def _patterns(dialect: str, indexed: bool) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(logical type, how the catalog spells what ``dialect`` writes for it, each parameter a group)."""
    found = []
    engine = dialects.get(dialect)
    for name in PREFERENCE:
        template = (engine.indexed_types.get(name) if indexed else None) or engine.types[name]
        spelled = re.escape(catalog_type(engine, template)).replace(r"\ ", " ")
        found.append((name, re.compile(_PARAMETER.sub(lambda m: rf"(?P<{m.group(1)}>[0-9]+)", spelled))))
    return tuple(found)


@functools.cache
def _exact(dialect: str, engine_type: str, indexed: bool) -> tuple[ColumnType, ...]:
    found = []
    for name, pattern in _patterns(dialect, indexed):
        match = pattern.fullmatch(engine_type)
        if match is None:
            continue
        groups = match.groupdict()
        length = int(groups["length"]) if groups.get("length") else None
        scale = int(groups["scale"]) if groups.get("scale") else None
        if name == "decimal" and length is None:
            length, scale = DEFAULT_PARAMETERS["decimal"]
        if name == "string" and length is not None and not 1 <= length <= 99999:
            continue
        found.append(ColumnType(name, length, scale))
    return tuple(found)


def exact_types(dialect: Dialect, engine_type: str, indexed: bool) -> list[ColumnType]:
    """Every logical type ``dialect`` writes as ``engine_type`` (for a column in a key or index when
    ``indexed``), in :data:`PREFERENCE` order. A ``string`` whose length the engine type does not keep
    comes without one (``ColumnType("string")``): its length check gives it."""
    return list(_exact(dialect.name, engine_type, indexed))


def nearest_type(dialect: Dialect, engine_type: str) -> ColumnType:
    """The logical type nearest ``engine_type``, which no logical type gives exactly (:data:`NEAREST`)."""
    for pattern, logical in NEAREST.get(dialect.name, ((r".*", "text"),)):
        match = re.fullmatch(pattern, engine_type)
        if match is None:
            continue
        text = logical.format(**{k: v for k, v in match.groupdict().items() if v is not None})
        ctype = ColumnType.parse(text)
        if ctype.name == "decimal" and ctype.length is None:
            ctype = ColumnType("decimal", *DEFAULT_PARAMETERS["decimal"])
        if ctype.name == "decimal" and not (
            1 <= (ctype.length or 0) <= 65 and (ctype.scale or 0) <= min(38, ctype.length or 0)
        ):
            ctype = ColumnType("decimal", *DEFAULT_PARAMETERS["decimal"])
        if ctype.name == "string" and not 1 <= (ctype.length or 0) <= 99999:
            ctype = ColumnType("text")
        return ctype
    return ColumnType("text")
