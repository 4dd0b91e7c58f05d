"""squawk, the PostgreSQL migration linter, as a peer: every PostgreSQL file schemac writes lints clean.

Each file of the example project, of every golden case and of a sample of random evolution histories is
built for PostgreSQL (lock-safe, the default) and linted step by step as ``apply`` runs it: a step in a
transaction with ``--assume-in-transaction``, the step outside any without. The only findings allowed are
those of :data:`ALLOWED`: a change the spec itself asks for, each with the reason and the spec word that
asks. The test skips when squawk is not installed (``pip install squawk-cli``, in the ``test`` extra),
and fails then under ``CI=true``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import schemac
from conftest import EXAMPLE, IN_CI, case_project
from evolution_model import History, histories
from golden_cases import cases
from schemac.applier.statements import split_statements, split_steps


@dataclass(frozen=True)
class Allowed:
    reason: str
    spec_words: tuple[str, ...]
    """Text the specs up to the version (an earlier one, for what a version takes away) hold to ask for it: any."""
    only_in: str = ""
    """When set, allowed only on a line holding this text."""


ALLOWED: dict[str, Allowed] = {
    "ban-drop-column": Allowed("the spec drops the column, which the build refuses without it", ("allow_destructive",)),
    "ban-drop-table": Allowed("the spec lists the table to drop", ("drop_tables",)),
    "renaming-column": Allowed("the spec renames the column (its data kept)", ("renamed_from",)),
    "renaming-table": Allowed("the spec renames the table (its data kept)", ("renamed_from",)),
    "renaming-object": Allowed("a check named after a renamed table or column is renamed with it", ("renamed_from",)),
    "ban-drop-constraint": Allowed(
        "the spec removes a check or key, or changes what a derived check says (an enum, a type, a rename); "
        "or makes a column NOT NULL, whose temporary check is dropped once SET NOT NULL holds",
        ("checks:", "check:", "enum", "references", "foreign_keys", "renamed_from", "nullable"),
    ),
    "ban-drop-not-null": Allowed("the spec makes the column nullable", ("nullable",)),
    "ban-drop-default": Allowed(
        "the spec removes the column's default, or changes the type of a column that has one (the default is "
        "dropped before the type changes and set again after)",
        ("default",),
    ),
    "changing-column-type": Allowed("the spec changes the column's type (lint SC910 says when it rewrites)", ("type",)),
    "adding-field-with-default": Allowed(
        "the spec adds an identity column, numbered as it is added, or a column whose default is an SQL expression",
        ("identity", "sql:"),
    ),
    "adding-serial-primary-key-field": Allowed(
        "the spec changes the table's primary key, whose index is built under the lock (docs/production-postgresql.md)",
        ("primary_key",),
    ),
    "constraint-missing-not-valid": Allowed(
        "the same primary key change: a primary key cannot be added NOT VALID",
        ("primary_key",),
        only_in="PRIMARY KEY",
    ),
    "require-concurrent-index-creation": Allowed(
        "the spec makes a column unique and a foreign key of the same version references it: the key needs the "
        "index when it is added, so the index is built with the changes (lint SC911 says so)",
        ("unique",),
        only_in="CREATE UNIQUE INDEX",
    ),
    "prefer-bigint-over-int": Allowed("the spec asks for a 32-bit integer", ("integer",)),
    "prefer-bigint-over-smallint": Allowed("the spec asks for a 16-bit integer", ("smallint",)),
    "prefer-text-field": Allowed("the spec asks for a bounded string", ("string(",)),
}
"""squawk rule → why a schemac file may have it, and the spec word that asks for it. Nothing else is allowed."""

SQUAWK = shutil.which("squawk") or next(
    (str(p) for p in (Path(__file__).parents[1] / ".venv" / "bin" / "squawk",) if p.exists()), None
)


def _squawk() -> str:
    if SQUAWK is None:
        message = "squawk is not installed (pip install squawk-cli, in the test extra)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return SQUAWK


def findings(file: Path) -> list[tuple[int, str, str]]:
    """(line, rule, message) of each squawk finding in ``file``, each step linted as ``apply`` runs it."""
    text = file.read_text(encoding="utf-8")
    lines = text.split("\n")
    found = []
    for step in split_steps(text, split_statements(text)):
        kept = [""] * len(lines)  # the step's statements at their own lines, so that squawk's lines are the file's
        for statement in step.statements:
            first = statement.line - 1
            for number in range(first, first + statement.sql.count("\n") + 1):
                kept[number] = lines[number]
        with tempfile.NamedTemporaryFile("w", suffix=".sql", encoding="utf-8", delete=False) as part:
            part.write("\n".join(kept))
        try:
            args = [_squawk(), "--reporter", "json", part.name]
            if step.transaction:
                args.append("--assume-in-transaction")
            ran = subprocess.run(args, capture_output=True, text=True, timeout=120)
        finally:
            Path(part.name).unlink()
        assert ran.returncode in (0, 1), ran.stderr
        found += [(r["line"] + 1, r["rule_name"], r["message"]) for r in json.loads(ran.stdout or "[]")]
    return sorted(found)


def unexplained(project: Path) -> list[str]:
    """Each finding in the project's PostgreSQL files that :data:`ALLOWED` does not allow, or whose spec word
    no spec up to that version holds."""
    schemac.build(project)
    migrations = project / "migrations"
    files = sorted(migrations.glob("*.sql"))
    assert files
    specs = sorted((project / "specs").glob("*"))
    bad = []
    for file in files:
        version = int(file.name.split("_", 1)[0])
        said = "".join(s.read_text(encoding="utf-8") for s in specs if int(s.name.split("_", 1)[0]) <= version)
        said = said.replace('"', "")  # a spec in JSON (YAML's flow style) reads as one in YAML's block style
        lines = file.read_text(encoding="utf-8").split("\n")
        for line, rule, message in findings(file):
            allowed = ALLOWED.get(rule)
            if allowed is None or allowed.only_in not in lines[line - 1]:
                allowed = None
            if allowed is None or not any(word in said for word in allowed.spec_words):
                bad.append(f"{file.relative_to(project)}:{line}: {rule} {message}")
    return bad


def _postgresql_only(project: Path) -> None:
    settings_file = project / "schemac.toml"
    text = settings_file.read_text(encoding="utf-8") if settings_file.exists() else ""
    kept = [line for line in text.splitlines() if not line.startswith(("dialect", "[postgresql]", "online"))]
    settings_file.write_text("\n".join(['dialects = ["postgresql"]', *kept]) + "\n", encoding="utf-8")


def test_the_example_project_lints_clean(tmp_path: Path) -> None:
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE / "specs", project / "specs")
    _postgresql_only(project)
    assert unexplained(project) == []


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.name)
def test_each_golden_case_lints_clean(case: Path, tmp_path: Path) -> None:
    project = case_project(case, "postgresql", tmp_path)
    _postgresql_only(project)  # lock-safe, whatever the case's settings
    try:
        schemac.build(project)
    except schemac.SchemacError as error:
        pytest.skip(f"the case does not build for postgresql: {error}")
    assert unexplained(project) == []


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories("postgresql"))
def test_random_evolution_histories_lint_clean(history: History, tmp_path_factory: pytest.TempPathFactory) -> None:
    project = tmp_path_factory.mktemp("history")
    (project / "specs").mkdir()
    for number, version in enumerate(history.versions, 1):
        name = f"{number:04d}_v{number}.yaml"
        (project / "specs" / name).write_text(json.dumps(version.spec, indent=1), encoding="utf-8")  # JSON is YAML
    _postgresql_only(project)
    assert unexplained(project) == []


def test_a_finding_not_allowed_is_reported(tmp_path: Path) -> None:
    """The check itself can fail: the plain form (one transaction, no lock-safe steps) has findings no
    spec asked for, and each is reported with its file, line and rule."""
    project = tmp_path / "plain"
    shutil.copytree(Path(__file__).parent / "golden" / "evolve_index" / "specs", project / "specs")
    (project / "schemac.toml").write_text('dialects = ["postgresql"]\n\n[postgresql]\nonline = false\n')
    bad = unexplained(project)
    assert "migrations/0002_indexes.sql:5: require-concurrent-index-deletion" in "\n".join(bad)
    assert {line.split(": ")[1].split(" ")[0] for line in bad} == {
        "require-concurrent-index-creation",
        "require-concurrent-index-deletion",
        "require-lock-timeout",
        "require-statement-timeout",
    }
