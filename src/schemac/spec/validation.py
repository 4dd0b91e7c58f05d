"""Validation stage: check each spec document against the packaged JSON Schema.

A document is first checked by jsonschema-rs, a compiled validator about thirty times faster; only
a document it does not accept goes to jsonschema, which finds every error and locates it. Every
error is reported, each mapped back to the YAML line:column of the offending key or value.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Hashable, Iterator, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from schemac.errors import Diagnostic
from schemac.spec.names import MAX_IDENTIFIER
from schemac.spec.source import Document, Path_, dotted

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_RESOURCE = "schema/spec.schema.json"


def schema_text() -> str:
    """The spec JSON Schema, as shipped in the package."""
    return resources.files("schemac").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")


def inline_refs(node: Any, defs: dict[str, Any]) -> Any:
    """``node`` with every local ``#/$defs/...`` reference replaced by its target (the schema has no cycles).

    Looking references up is a third of jsonschema's time; the errors it reports are unchanged.
    """
    if isinstance(node, list):
        return [inline_refs(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    resolved = {key: inline_refs(value, defs) for key, value in node.items() if key not in ("$ref", "$defs")}
    if "$ref" not in node:
        return resolved
    target = inline_refs(defs[node["$ref"].removeprefix("#/$defs/")], defs)
    return {**resolved, "allOf": [target]} if resolved else target


@cache
def _validator() -> Draft202012Validator:
    """jsonschema's validator, with :func:`_unique_items`: imported only when a document needs its findings."""
    from jsonschema import Draft202012Validator, validators

    schema = json.loads(schema_text())
    checker = validators.extend(Draft202012Validator, {"uniqueItems": _unique_items})  # type: ignore[no-untyped-call]
    validator: Draft202012Validator = checker(inline_refs(schema, schema.get("$defs", {})))
    return validator


def _unique_items(validator: Any, wanted: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """jsonschema's ``uniqueItems``, in linear time: its own compares every pair of a list it cannot
    sort (``[0, 'a']``, or mappings), which a spec of a few kilobytes turns into seconds."""
    from jsonschema.exceptions import ValidationError

    if wanted and validator.is_type(instance, "array"):
        forms = [_hashable(item) for item in instance]
        if len(set(forms)) < len(forms):
            yield ValidationError(f"{instance!r} has non-unique elements")


def _hashable(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value, equal where JSON Schema counts values equal (``1`` and ``1.0``,
    not ``true`` and ``1``; lists item by item; mappings whatever their order)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, list):
        return ("list", tuple(_hashable(item) for item in value))
    if isinstance(value, dict):
        return ("mapping", frozenset((key, _hashable(item)) for key, item in value.items()))
    hashable: Hashable = value  # a string, a number or null
    return hashable


@cache
def _accepts() -> Callable[[Any], bool] | None:
    """jsonschema-rs's verdict, or ``None`` where it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - it ships as a dependency
        return None
    return jsonschema_rs.Draft202012Validator(json.loads(schema_text())).is_valid


def fast_accepts(data: Any) -> bool:
    """Whether jsonschema-rs accepts ``data``; when it does not (or is not installed), jsonschema decides."""
    accepts = _accepts()
    try:
        return accepts is not None and accepts(data)
    except Exception:  # a value it cannot take in is for jsonschema to judge, not an error
        return False


_JSON_TYPES = {
    dict: "a mapping",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}
_WANTED = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "boolean": "a boolean (true or false)",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}


def _shown(value: Any) -> str:
    """A value as written in YAML: strings quoted, ``true``/``false``/``null`` bare."""
    if isinstance(value, str):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False)


def _describe(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def check_document(doc: Document) -> list[Diagnostic]:
    """All JSON Schema findings for one document, sorted by position."""
    if fast_accepts(doc.data):
        return []
    found: list[Diagnostic] = []
    for error in _validator().iter_errors(doc.data):
        found.extend(_translate(doc, error))
    return sorted(set(found))


def _translate(doc: Document, error: ValidationError) -> list[Diagnostic]:
    path: Path_ = tuple(error.absolute_path)
    where = dotted(path)
    kind = error.validator
    instance: Any = error.instance
    expected_value: Any = error.validator_value
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if "propertyNames" in error.absolute_schema_path:  # the instance is a key of the mapping at ``path``
        return [_identifier_error(doc, (*path, instance), instance, key=True)]
    if kind == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        out = []
        for key in sorted(set(instance) - set(known)):
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
            where_in = f" in {where}" if path else ""
            out.append(doc.diagnostic((*path, key), "SC201", f"unknown key '{key}'{where_in}", hint, key=True))
        return out
    if kind == "required":
        missing = [k for k in schema.get("required", []) if k not in instance]
        return [doc.diagnostic(path, "SC203", f"{where} is missing the required key '{k}'") for k in missing]
    if kind == "type":
        wanted = expected_value
        names = " or ".join(_WANTED[w] for w in ([wanted] if isinstance(wanted, str) else wanted))
        return [doc.diagnostic(path, "SC202", f"{where} must be {names}, not {_describe(instance)}")]
    if kind == "propertyNames":
        key = instance
        return [_identifier_error(doc, (*path, key), key, key=True)]
    if kind in ("pattern", "maxLength") and path:
        if path[-1] == "type":
            return [_type_error(doc, path, instance)]
        if path[-1] == "references":
            return [doc.diagnostic(path, "SC206", f"{where} must be 'table.column', not '{instance}'")]
        return [_identifier_error(doc, path, instance)]
    if kind == "enum":
        allowed = ", ".join(str(v) for v in expected_value)
        close = difflib.get_close_matches(str(instance), [str(v) for v in expected_value], n=1)
        hint = f"did you mean '{close[0]}'?" if close else ""
        return [doc.diagnostic(path, "SC204", f"{where} must be one of {allowed}, not {_shown(instance)}", hint)]
    if kind in ("minItems", "minProperties", "minLength"):
        return [doc.diagnostic(path, "SC207", f"{where} must not be empty")]
    if kind == "uniqueItems":
        return [doc.diagnostic(path, "SC208", f"{where} lists the same item twice")]
    if kind in ("anyOf", "oneOf"):
        meant = [e for e in error.context or [] if e.validator != "type"]
        meant = [e for e in meant if len(e.absolute_path) > len(path)] or meant
        if meant:  # the alternative whose shape the value took: say what is wrong inside it
            return [d for e in meant for d in _translate(doc, e)]
        expected = schema.get("description", "")
        return [doc.diagnostic(path, "SC204", f"{where} is not valid: expected {expected}".rstrip())]
    return [doc.diagnostic(path, "SC299", f"{where}: {error.message}")]


def _identifier_error(doc: Document, path: Path_, name: Any, *, key: bool = False) -> Diagnostic:
    if not isinstance(name, str):
        return doc.diagnostic(path, "SC202", f"{dotted(path[:-1])} name must be a string", key=key)
    if len(name) > MAX_IDENTIFIER:
        return doc.diagnostic(
            path,
            "SC303",
            f"name '{name[:20]}…' is {len(name)} characters, over the limit of {MAX_IDENTIFIER}",
            "use a shorter name",
            key=key,
        )
    return doc.diagnostic(
        path,
        "SC301",
        f"'{name}' is not a valid name: use lowercase letters, digits and _, not starting with a digit",
        key=key,
    )


LOGICAL_TYPES = (
    "text",
    "string(n)",
    "integer",
    "bigint",
    "smallint",
    "boolean",
    "real",
    "double",
    "decimal(p,s)",
    "timestamp",
    "date",
    "json",
    "uuid",
    "bytes",
)


TYPE_SPELLINGS: Mapping[str, str] = MappingProxyType(
    {
        "int": "integer",
        "int4": "integer",
        "int32": "integer",
        "mediumint": "integer",
        "int8": "bigint",
        "int64": "bigint",
        "long": "bigint",
        "int2": "smallint",
        "int16": "smallint",
        "tinyint": "smallint",
        "bool": "boolean",
        "float4": "real",
        "float": "double",
        "float8": "double",
        "double precision": "double",
        "numeric": "decimal(p,s)",
        "number": "decimal(p,s)",
        "money": "decimal(p,s)",
        "datetime": "timestamp",
        "datetime2": "timestamp",
        "timestamptz": "timestamp",
        "timestamp with time zone": "timestamp",
        "timestamp without time zone": "timestamp",
        "varchar": "string(n)",
        "nvarchar": "string(n)",
        "char": "string(n)",
        "nchar": "string(n)",
        "character": "string(n)",
        "character varying": "string(n)",
        "clob": "text",
        "longtext": "text",
        "mediumtext": "text",
        "jsonb": "json",
        "guid": "uuid",
        "uniqueidentifier": "uuid",
        "blob": "bytes",
        "bytea": "bytes",
        "binary": "bytes",
        "varbinary": "bytes",
    }
)
"""Other engines' and languages' names for the logical types, for SC205's hint (keys lower case, spaces single)."""

_SPELLING = re.compile(r"\s*([a-z][a-z0-9 ]*?)\s*(?:\((\s*\d+\s*(?:,\s*\d+\s*)?)\)?)?\s*")
"""A type as another engine writes it: a name of words, then perhaps ``(n)`` or ``(p,s)`` (perhaps unclosed)."""


def spelled_type(value: str) -> str | None:
    """The logical type that ``value``, another engine's spelling, means (``varchar(80)`` → ``string(80)``)."""
    match = _SPELLING.fullmatch(value.lower())
    if match is None:
        return None
    meant = TYPE_SPELLINGS.get(" ".join(match.group(1).split()))
    size = "".join((match.group(2) or "").split())
    if meant is None or not size:
        return meant
    if meant == "string(n)" and size.isdigit():
        return f"string({size})"
    if meant == "decimal(p,s)" and "," in size:
        return f"decimal({size})"
    return meant


def _type_error(doc: Document, path: Path_, value: Any) -> Diagnostic:
    text = str(value)
    meant = spelled_type(text)
    close = difflib.get_close_matches(text.lower(), LOGICAL_TYPES, n=1)
    if "(" in text and ")" not in text and (meant or (close[0] if close else "")).startswith("decimal("):
        hint = 'inside {...} a comma ends the value: quote the type, as in type: "decimal(12,2)"'
    elif meant:
        hint = f"write '{meant}', the logical type for {text}"
    else:
        hint = f"did you mean '{close[0]}'?" if close else f"known types: {', '.join(LOGICAL_TYPES)}"
    return doc.diagnostic(path, "SC205", f"unknown type '{value}'", hint)
