"""Random follow-up specs (renames, drops, adds, type and audit changes, index removal, table renames):
the evolved SQLite schema and its fingerprint equal those of one fresh spec of the final shape."""

from __future__ import annotations

import copy
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import schemac
from test_evolution import apply_file, schema_of

TYPES = ["integer", "bigint", "text", "string(10)", "string(20)", "real", "boolean"]
DEFAULTS: dict[str, Any] = {
    "integer": 1,
    "bigint": 2,
    "text": "x",
    "string(10)": "y",
    "string(20)": "z",
    "real": 0.5,
    "boolean": True,
}
Spec = dict[str, Any]


def random_column(rng: random.Random, name: str, parents: list[str]) -> dict[str, Any]:
    column: dict[str, Any] = {"type": rng.choice(TYPES)}
    if rng.random() < 0.4:
        column["nullable"] = True
    if rng.random() < 0.3:
        column["default"] = DEFAULTS[column["type"]]
    if column["type"] == "text" and "default" not in column and rng.random() < 0.3:
        column["enum"] = ["x", "q"]
    if column["type"] == "integer" and rng.random() < 0.2:
        column["check"] = f"{name} > -100"
    elif column["type"] == "integer" and parents and rng.random() < 0.3:
        column.update(references=f"{rng.choice(parents)}.id", nullable=True)
        column.pop("default", None)
    return column


def random_table(rng: random.Random, parents: list[str]) -> dict[str, Any]:
    columns: dict[str, Any] = {"id": {"type": "integer", "primary_key": True}}
    for name in rng.sample(["c1", "c2", "c3", "c4", "c5"], rng.randint(1, 4)):
        columns[name] = random_column(rng, name, parents)
    table: dict[str, Any] = {"audit": rng.choice(["none", "full", "none"]), "columns": columns}
    names = list(columns)[1:]
    if rng.random() < 0.5:
        table["indexes"] = [{"columns": rng.sample(names, rng.randint(1, len(names)))}]
    integers = [n for n in names if columns[n]["type"] == "integer"]
    if integers and rng.random() < 0.3:
        table["checks"] = [{"name": "limit", "expression": f"{integers[0]} < 1000000"}]
    return table


def _forget_column(table: dict[str, Any], name: str) -> None:
    """Remove the indexes and checks that use column ``name``."""
    for key, uses in (("indexes", lambda i: name in i["columns"]), ("checks", lambda c: name in c["expression"])):
        kept = [item for item in table.get(key, []) if not uses(item)]
        table.pop(key, None)
        if kept:
            table[key] = kept


def _rename_column(rng: random.Random, table: dict[str, Any], old: str) -> None:
    columns = table["columns"]
    body = columns.pop(old)
    new = old + "_r"
    body["renamed_from"] = old
    if "check" in body:
        body["check"] = body["check"].replace(old, new)
    items = list(columns.items())
    items.insert(rng.randint(1, len(items)), (new, body))
    table["columns"] = dict(items)
    for index in table.get("indexes", []):
        index["columns"] = [new if c == old else c for c in index["columns"]]
    for check in table.get("checks", []):
        check["expression"] = check["expression"].replace(old, new)


def follow_up(rng: random.Random, spec: Spec) -> Spec:
    """One random change to each table of ``spec``."""
    result = copy.deepcopy(spec)
    tables = result["tables"]
    for name in list(tables):
        table = tables[name]
        columns = table["columns"]
        names = list(columns)[1:]
        choice = rng.random()
        if choice < 0.15 and names:
            _rename_column(rng, table, rng.choice(names))
        elif choice < 0.3 and names:
            dropped = rng.choice(names)
            del columns[dropped]
            _forget_column(table, dropped)
        elif choice < 0.45:
            columns[f"n{rng.randint(1, 9)}"] = {"type": rng.choice(TYPES), "nullable": True}
        elif choice < 0.6 and names:
            changed = rng.choice(names)
            if "references" not in columns[changed]:  # a new type; its indexes and table checks stay
                columns[changed] = {"type": rng.choice(TYPES), "nullable": columns[changed].get("nullable", False)}
        elif choice < 0.7:
            table["audit"] = rng.choice(["none", "full"])
        elif choice < 0.8:
            table.pop("indexes", None)
        elif choice < 0.9 and name != "t1":
            tables[f"{name}_x"] = {**tables.pop(name), "renamed_from": name}
    return {"description": "A random follow-up.", "allow_destructive": True, "tables": tables}


def final_shape(spec: Spec) -> Spec:
    fresh = copy.deepcopy(spec)
    del fresh["allow_destructive"]
    for table in fresh["tables"].values():
        table.pop("renamed_from", None)
        for column in table["columns"].values():
            column.pop("renamed_from", None)
    return fresh


def _build(root: Path, specs: dict[str, Spec]) -> sqlite3.Connection:
    (root / "specs").mkdir(parents=True)
    for name, spec in specs.items():
        (root / "specs" / name).write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    schemac.build(root)
    con = sqlite3.connect(":memory:", isolation_level=None)
    for migration in schemac.load_migrations(root / "migrations"):
        apply_file(con, migration.sql)
    return con


def _fingerprint(root: Path) -> str:
    return str(json.loads((root / "migrations" / "manifest.json").read_text())["files"][-1]["schema_fingerprint"])


@pytest.mark.parametrize("seed", range(25))
def test_random_follow_up_evolves_to_the_fresh_schema(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    first: Spec = {"description": "Random tables.", "tables": {}}
    for name in ("t1", "t2", "t3"):
        first["tables"][name] = random_table(rng, ["t1"] if name != "t1" else [])
    second = follow_up(rng, first)
    renamed = {t["renamed_from"]: n for n, t in second["tables"].items() if "renamed_from" in t}
    for table in second["tables"].values():
        for column in table["columns"].values():
            if "references" in column:
                target, key = column["references"].split(".")
                column["references"] = f"{renamed.get(target, target)}.{key}"
    evolved = _build(tmp_path / "evolved", {"0001_first.yaml": first, "0002_second.yaml": second})
    fresh = _build(tmp_path / "fresh", {"0001_fresh.yaml": final_shape(second)})
    assert schema_of(evolved) == schema_of(fresh)
    assert _fingerprint(tmp_path / "evolved") == _fingerprint(tmp_path / "fresh")
