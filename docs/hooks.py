"""MkDocs hook: replaces each ``<!-- generated: NAME -->`` line of a page with generated Markdown.

``spec-reference``: a table of the keys of every mapping in the JSON Schema files ``schema/*.json``,
from their own descriptions and examples. ``error-codes`` and ``lint-rules``: tables from the code
catalog ``schemac.codes``. ``api-reference``: a mkdocstrings block for each name in ``schemac.__all__``.
So these pages say what the schema, the catalog and the package say, and cannot drift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from schemac.codes import CODES, RANGES, Code

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schema"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
REF = "#/$defs/"

Schema = Mapping[str, Any]


def on_page_markdown(markdown: str, **_: object) -> str:
    """MkDocs event: the page's Markdown with every marker replaced."""
    return render(markdown)


def render(markdown: str) -> str:
    """``markdown`` with each marker line replaced by what its generator gives."""

    def generate(marker: re.Match[str]) -> str:
        name = marker[1]
        if name not in GENERATORS:
            raise ValueError(f"unknown generated section '{name}' (known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(generate, markdown)


# The spec reference


def anchor(path: str) -> str:
    """The id of the section of the mapping at ``path`` (``column``, ``foreign_key.references``)."""
    return "schema-" + path.replace(".", "-").replace("_", "-")


def mappings(schema: Schema) -> Iterator[tuple[str, Schema]]:
    """Every mapping with named keys: the file's top level, then each ``$defs`` entry in order, each
    followed by the mappings written inline inside it, by their dotted path."""

    def inline(node: Schema, path: str) -> Iterator[tuple[str, Schema]]:
        for key, value in node.get("properties", {}).items():
            yield from walk(value, f"{path}.{key}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), Mapping):
                yield from walk(node[key], path)
        for branch in node.get("anyOf", []):
            yield from walk(branch, path)

    def walk(node: Schema, path: str) -> Iterator[tuple[str, Schema]]:
        if "properties" in node:
            yield path, node
        yield from inline(node, path)

    yield "spec", schema
    yield from inline(schema, "spec")
    for name, node in schema.get("$defs", {}).items():
        yield from walk(node, name)


def nested(node: Schema, path: str, known: set[str]) -> str:
    """A link to the section of an inline mapping at ``path``, if it has one."""
    return f"[`{path}`](#{anchor(path)})" if "properties" in node and path in known else ""


def kind(node: Schema, path: str, known: set[str]) -> str:
    """What a value may be, in words, linking to the sections of the mappings it holds."""
    if "$ref" in node:
        name = str(node["$ref"]).removeprefix(REF)
        return f"[{name}](#{anchor(name)})"
    if link := nested(node, path, known):
        return link
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "anyOf" in node:
        return ", or ".join(kind(branch, path, known) for branch in node["anyOf"])
    types = node.get("type")
    if types == "array":
        items = kind(node.get("items", {}), path, known)
        rules = [rule for key, rule in (("minItems", "at least one"), ("uniqueItems", "no repeats")) if node.get(key)]
        return f"list of {items}" + (f" ({', '.join(rules)})" if rules else "")
    if types == "object" and isinstance(node.get("additionalProperties"), Mapping):
        names = kind(node.get("propertyNames", {}), path, known)
        least = " (at least one)" if node.get("minProperties") else ""
        return f"mapping of {names} to {kind(node['additionalProperties'], path, known)}{least}"
    if isinstance(types, list):
        return " or ".join(types)
    if types == "string" and node.get("minLength"):
        return "non-empty string"
    return str(types) if types else "any value"


def flow(value: object) -> str:
    """A value as YAML in flow style, as a spec may write it."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=1_000_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def cell(text: str) -> str:
    """Markdown fit for a table cell: one line, ``|`` escaped."""
    return text.replace("|", "\\|").replace("\n", " ")


def plain(text: object) -> str:
    """A schema's plain text as Markdown that shows it as written."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]])", r"\\\1", escaped)


def key_table(node: Schema, path: str, known: set[str]) -> list[str]:
    required = set(node.get("required", []))
    rows = ["| key | value | required | meaning |", "|---|---|---|---|"]
    for key, value in node["properties"].items():
        meaning = plain(value.get("description", ""))
        if "default" in value:
            meaning += f" Default: `{flow(value['default'])}`."
        examples = value.get("examples", [])
        if examples:
            meaning += " " + ("Example" if len(examples) == 1 else "Examples") + ": "
            meaning += ", ".join(f"`{flow(example)}`" for example in examples) + "."
        value_kind = kind(value, f"{path}.{key}", known)
        rows.append(f"| `{key}` | {cell(value_kind)} | {'yes' if key in required else ''} | {cell(meaning)} |")
    return rows


def either(node: Schema, path: str, known: set[str]) -> str:
    """The alternatives of an ``anyOf``, the inline mapping among them being the keys listed below."""
    branches = [
        "a mapping of the keys below" if "properties" in branch else kind(branch, path, known)
        for branch in node["anyOf"]
    ]
    return "Either " + ", or ".join(branches) + "."


def value_rules(node: Schema) -> str:
    """What a named value (a ``$defs`` entry with no keys of its own) must be."""
    rules = [f"matches `{node['pattern']}`"] if "pattern" in node else []
    rules += [f"at most {node['maxLength']} characters"] if "maxLength" in node else []
    rules += ["one of " + ", ".join(f"`{value}`" for value in node["enum"])] if "enum" in node else []
    return "A string that " + " and ".join(rules) + "." if "type" in node else rules[0].capitalize() + "."


def spec_reference() -> str:
    """A section per mapping of every JSON Schema file, with a table of its keys; then the named values."""
    lines: list[str] = []
    for file in sorted(SCHEMAS.glob("*.json")):
        schema: Schema = json.loads(file.read_text(encoding="utf-8"))
        definitions: Schema = schema.get("$defs", {})
        found = list(mappings(schema))
        known = {path for path, _ in found}
        lines += [f"Generated from `schema/{file.name}`: {plain(schema.get('description', ''))}", ""]
        for path, node in found:
            title = "The spec file (top level)" if path == "spec" else f"`{path}`"
            lines += [f"### {title} {{#{anchor(path)}}}", ""]
            definition = definitions.get(path, node)
            if path != "spec" and definition.get("description"):
                lines += [plain(definition["description"]), ""]
            if "anyOf" in definition:
                lines += [either(definition, path, known), ""]
            lines += key_table(node, path, known)
            lines += ["", "No other key is allowed.", ""] if node.get("additionalProperties") is False else [""]
        for name, node in definitions.items():
            if name not in known:
                lines += [f"### `{name}` {{#{anchor(name)}}}", "", plain(node.get("description", "")), ""]
                lines += [value_rules(node), ""]
    return "\n".join(lines)


# The code catalog


def code_row(code: Code) -> str:
    examples = "<br>".join(f"`{example}`" for example in code.examples)
    return f"| `{code.code}` | {cell(code.summary)} | {cell(examples)} | {cell(code.fix)} |"


def lint_row(code: Code) -> str:
    return f"| `{code.code}` | `{code.rule}` | {code.severity} | {cell(code.summary)} | {cell(code.fix)} |"


def lint_rules() -> str:
    """The lint rules: code, name, default severity, what each catches and how to fix it."""
    rows = [lint_row(code) for code in CODES.values() if code.rule]
    return "\n".join(["| code | rule | default | what it catches | how to fix |", "|---|---|---|---|---|", *rows])


def error_codes() -> str:
    """A section per range of codes, each with a table of its codes; the lint rules last."""
    lines: list[str] = []
    for prefix, title in RANGES.items():
        codes = [code for code in CODES.values() if code.code.startswith(prefix)]
        lines += [f"## `{prefix}xx`: {title}", ""]
        if prefix == "SC9":
            lines += ["Configurable per project: see [Lint rules](lint-rules.md).", "", lint_rules(), ""]
            continue
        lines += ["| code | meaning | example | fix |", "|---|---|---|---|", *map(code_row, codes), ""]
    return "\n".join(lines)


# The Python API


def api_reference() -> str:
    """A mkdocstrings block for each name ``schemac`` exports, functions first, each from the module that
    defines it: ``schemac.validate`` is also the name of a submodule, which a reading of the package's
    source (rather than its ``__getattr__``) would document instead."""
    import schemac

    exported = {name: getattr(schemac, name) for name in schemac.__all__}
    lines: list[str] = []
    for title, classes in (("Functions", False), ("Classes", True)):
        lines += [f"### {title}", ""]
        for name, value in exported.items():
            if isinstance(value, type) == classes:
                lines += [f"::: {value.__module__}.{name}", "    options:", "      heading_level: 4", ""]
    return "\n".join(lines)


GENERATORS: Mapping[str, Callable[[], str]] = {
    "api-reference": api_reference,
    "spec-reference": spec_reference,
    "error-codes": error_codes,
    "lint-rules": lint_rules,
}
