"""Synthetic schemac projects: ``tables / 10`` spec files of ten realistic tables each.

Every table has 8-15 columns of mixed types, a primary key, enums, checks, defaults, one or two
foreign keys to earlier tables, two or three indexes (one composite with a descending column,
sometimes a partial unique one) and the default audit columns. The same arguments always give
the same bytes.
"""

from __future__ import annotations

import random
from pathlib import Path

TABLES_PER_SPEC = 10
_PLAIN_TYPES = ("text", "string(120)", "integer", "bigint", "boolean", "double", "'decimal(12,2)'", "timestamp", "date")
_STATUSES = ("draft", "active", "paused", "archived", "deleted")


def table_name(number: int) -> str:
    return f"entity_{number:05d}"


def _column_lines(rng: random.Random, number: int) -> tuple[list[str], list[str], list[str]]:
    """The column lines of one table, the names of its plain columns, and its foreign key columns."""
    lines = ["      id: {type: uuid, primary_key: true}"]
    references = []
    for ref in sorted({rng.randrange(number) for _ in range(rng.randint(1, 2))}) if number else []:
        column = f"{table_name(ref)}_id"
        action = rng.choice(["cascade", "restrict", "no action"])
        lines.append(f"      {column}: {{type: uuid, references: {table_name(ref)}.id, on_delete: {action}}}")
        references.append(column)
    lines.append(f"      status: {{type: text, enum: [{', '.join(_STATUSES)}], default: draft}}")
    lines.append("      code: {type: string(40), unique: true}")
    plain = []
    while len(lines) < rng.randint(8, 15):
        ctype = rng.choice(_PLAIN_TYPES)
        name = ctype.strip("'").split("(")[0] + f"_field_{len(lines)}"
        extra = ""
        if ctype in ("integer", "bigint") and rng.random() < 0.5:
            extra = f', default: 0, check: "{name} >= 0"'
        elif ctype == "boolean":
            extra = ", default: false"
        elif ctype in ("text", "timestamp", "date") and rng.random() < 0.4:
            extra = ", nullable: true"
        lines.append(f"      {name}: {{type: {ctype}{extra}}}")
        plain.append(name)
    if len(lines) < 15:
        lines.append("      metadata_json: {type: json, default: {}}")
    return lines, plain, references


def table_yaml(rng: random.Random, number: int) -> str:
    lines, plain, references = _column_lines(rng, number)
    indexes = ["      - columns: [status, {name: created_at, order: desc}]"]
    indexes += [f"      - columns: [{column}]" for column in references]
    if plain and rng.random() < 0.3:
        indexes += [
            f"      - columns: [{plain[0]}]",
            "        unique: true",
            "        where: \"status = 'active'\"",
        ]
    head = [f"  {table_name(number)}:", f"    description: Synthetic entity number {number}.", "    columns:"]
    return "\n".join([*head, *lines, "    indexes:", *indexes]) + "\n"


def spec_text(version: int, per_spec: int = TABLES_PER_SPEC, seed: int = 7) -> str:
    """The spec of one version: ``per_spec`` tables, numbered after those of earlier versions."""
    rng = random.Random(seed * 1_000_003 + version)
    first = (version - 1) * per_spec
    body = "".join(table_yaml(rng, n) for n in range(first, first + per_spec))
    return f"description: Synthetic version {version} with {per_spec} tables.\ntables:\n{body}"


def spec_name(version: int) -> str:
    return f"{version:05d}_synthetic_{version}.yaml"


def write_project(root: Path, tables: int, per_spec: int = TABLES_PER_SPEC) -> Path:
    """A project with ``tables`` tables (rounded up to whole specs) under ``root``; returns ``root``."""
    (root / "specs").mkdir(parents=True, exist_ok=True)
    (root / "schemac.toml").write_text('dialects = ["sqlite"]\n', encoding="utf-8")
    for version in range(1, -(-tables // per_spec) + 1):
        add_spec(root, version, per_spec)
    return root


def add_spec(root: Path, version: int, per_spec: int = TABLES_PER_SPEC) -> Path:
    path = root / "specs" / spec_name(version)
    path.write_text(spec_text(version, per_spec), encoding="utf-8")
    return path
