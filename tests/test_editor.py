"""Editor support: the spec JSON Schema documents every key, ``schemac schema`` prints it, new specs point at it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from jsonschema import Draft202012Validator

import schemac
from conftest import REPO

Run = Callable[..., CompletedProcess[str]]
PACKAGED = REPO / "src" / "schemac" / "schema" / "spec.schema.json"


def _keys(node: Any, pointer: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property schema (a key an author can write) and every definition, with its JSON pointer."""
    if isinstance(node, dict):
        for group in ("properties", "$defs"):
            for name, sub in node.get(group, {}).items():
                yield f"{pointer}/{group}/{name}", sub
        for key, sub in node.items():
            yield from _keys(sub, f"{pointer}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _keys(sub, f"{pointer}/{i}")


def test_every_key_of_the_schema_has_a_description_and_valid_examples() -> None:
    root = json.loads(PACKAGED.read_text(encoding="utf-8"))
    validator = Draft202012Validator(root)
    keys = dict(_keys(root))
    assert len(keys) > 40  # the walk reaches nested definitions, not just the top level
    for pointer, sub in keys.items():
        assert sub.get("description"), f"{pointer} has no description"
        assert sub.get("examples"), f"{pointer} has no examples"
        for example in sub["examples"]:
            errors = list(validator.evolve(schema=sub).iter_errors(example))
            assert not errors, f"{pointer}: example {example!r} is invalid: {errors[0].message}"


def test_a_wrong_example_would_be_caught() -> None:
    root = json.loads(PACKAGED.read_text(encoding="utf-8"))
    column = root["$defs"]["column"]["properties"]["type"]
    assert not Draft202012Validator(root).evolve(schema=column).is_valid("varchar")
    identifier = {"$ref": "#/$defs/identifier"}
    assert not Draft202012Validator(root).evolve(schema=identifier).is_valid("Bad Name")


def test_repository_schema_is_a_symlink_to_the_packaged_one() -> None:
    link = REPO / "schema" / "spec.schema.json"
    assert link.is_symlink()
    assert link.resolve() == PACKAGED.resolve()


def test_schema_command_prints_the_packaged_schema(cli: Run) -> None:
    outcome = cli("schema")
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout == PACKAGED.read_text(encoding="utf-8")
    assert schemac.schema() == outcome.stdout
    assert json.loads(outcome.stdout)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _first_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0]


def test_init_then_new_points_the_spec_at_the_schema_copy(tmp_path: Path, cli: Run) -> None:
    project = tmp_path / "shop"
    assert cli("init", "--project", project).returncode == 0
    outcome = cli("new", "create_orders", "--project", project)
    assert outcome.returncode == 0, outcome.stderr
    spec = project / "specs" / "0001_create_orders.yaml"
    assert _first_line(spec) == "# yaml-language-server: $schema=../schema/spec.schema.json"
    target = spec.parent / "../schema/spec.schema.json"
    assert target.resolve() == (project / "schema" / "spec.schema.json").resolve()
    assert target.read_text(encoding="utf-8") == schemac.schema()


def test_the_schema_line_follows_a_nested_specs_directory(tmp_path: Path) -> None:
    project = tmp_path / "app"
    project.mkdir()
    (project / "schemac.toml").write_text('specs = "db/specs"\nmigrations = "db/migrations"\n', encoding="utf-8")
    schemac.init(project)
    spec = schemac.new(project, "first")
    line = _first_line(spec)
    assert line == "# yaml-language-server: $schema=../../schema/spec.schema.json"
    relative = line.split("$schema=", 1)[1]
    assert os.path.samefile(spec.parent / relative, project / "schema" / "spec.schema.json")


def test_without_a_schema_copy_new_writes_no_schema_line(make_project: Callable[..., Path]) -> None:
    project = make_project({})
    spec = schemac.new(project, "first", "First version.")
    assert _first_line(spec) == "description: First version."
    assert "yaml-language-server" not in spec.read_text(encoding="utf-8")
