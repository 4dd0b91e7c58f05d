"""``--format text|json|github`` on validate, build, check and lint: one stable shape for every command."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from schemac.cli import github_annotation
from schemac.errors import Diagnostic

Run = Callable[..., CompletedProcess[str]]
MakeProject = Callable[..., Path]

GOOD = """\
description: One table.
tables:
  notes:
    description: A note.
    columns:
      id: {type: integer, primary_key: true}
"""
ODD_KEY = """\
description: x
tables:
  notes:
    columns:
      id: {type: integer, primary_key: true}
    "50%\\nsure": 1
"""
KEYS = ["file", "line", "column", "code", "severity", "message", "hint"]


@pytest.mark.parametrize("command", ["validate", "build", "check", "lint"])
def test_json_success_is_an_empty_list_on_stdout(make_project: MakeProject, cli: Run, command: str) -> None:
    project = make_project({"0001_notes.yaml": GOOD})
    if command == "check":
        assert cli("build", "--project", project).returncode == 0
    outcome = cli(command, "--project", project, "--format", "json")
    assert outcome.returncode == 0, outcome.stderr
    assert json.loads(outcome.stdout) == []
    assert outcome.stderr == ""


@pytest.mark.parametrize("command", ["validate", "build", "check", "lint"])
def test_json_findings_have_the_stable_keys(make_project: MakeProject, cli: Run, command: str) -> None:
    project = make_project({"0001_notes.yaml": ODD_KEY})
    outcome = cli(command, "--project", project, "--format", "json")
    assert outcome.returncode == 2
    report = json.loads(outcome.stdout)
    assert [list(item) for item in report] == [KEYS]
    assert report[0] == {
        "file": "specs/0001_notes.yaml",
        "line": 6,
        "column": 5,
        "code": "SC201",
        "severity": "error",
        "message": "unknown key '50%\nsure' in tables.notes",
        "hint": "known keys: audit, checks, columns, description, foreign_keys, indexes, primary_key, renamed_from",
    }


def test_github_annotations_escape_percent_and_newlines(make_project: MakeProject, cli: Run) -> None:
    project = make_project({"0001_notes.yaml": ODD_KEY})
    outcome = cli("validate", "--project", project, "--format", "github")
    assert outcome.returncode == 2
    assert outcome.stdout.splitlines() == [
        "::error file=specs/0001_notes.yaml,line=6,col=5,title=SC201::SC201 unknown key '50%25%0Asure' in "
        "tables.notes (hint: known keys: audit, checks, columns, description, foreign_keys, indexes, primary_key, "
        "renamed_from)"
    ]


def test_github_property_values_escape_colon_and_comma() -> None:
    finding = Diagnostic("db,x/a:b.yaml", 3, 4, "SC901", "line one\r\nline two", "", "warning")
    assert github_annotation(finding) == (
        "::warning file=db%2Cx/a%3Ab.yaml,line=3,col=4,title=SC901::SC901 line one%0D%0Aline two"
    )


def test_lint_findings_as_github_annotations_keep_their_severity(make_project: MakeProject, cli: Run) -> None:
    spec = (
        GOOD.replace("    columns:\n", "    audit: none\n    columns:\n")
        + "      flag: {type: boolean, nullable: true}\n"
    )
    outcome = cli("lint", "--project", make_project({"0001_notes.yaml": spec}), "-f", "github")
    assert outcome.returncode == 0
    assert outcome.stdout.splitlines() == [
        "::warning file=specs/0001_notes.yaml,line=5,col=12,title=SC901::SC901 table 'notes' opts out of audit "
        "columns created, updated, deleted (keeps: none) (hint: intended for append-only or reference tables: "
        "keep the finding visible for auditors, or set audit: full)",
        "::warning file=specs/0001_notes.yaml,line=8,col=7,title=SC906::SC906 boolean column 'notes.flag' is "
        "nullable (hint: drop nullable: true and give it a default, or use an enum if a third state is meant)",
    ]


def test_check_drift_in_every_format(make_project: MakeProject, cli: Run) -> None:
    project = make_project({"0001_notes.yaml": GOOD})
    assert cli("build", "--project", project).returncode == 0
    sql = project / "migrations" / "0001_notes.sql"
    sql.write_text(sql.read_text(encoding="utf-8").replace("IF NOT EXISTS", "if not exists", 1), encoding="utf-8")
    text = cli("check", "--project", project)
    report = json.loads(cli("check", "--project", project, "-f", "json").stdout)
    github = cli("check", "--project", project, "-f", "github")
    assert text.returncode == github.returncode == 1
    line = report[0]["line"]
    assert [(d["file"], d["code"], d["severity"]) for d in report] == [("migrations/0001_notes.sql", "SC501", "error")]
    assert text.stderr.startswith(f"migrations/0001_notes.sql:{line}:1: SC501 edited: file differs from its SHA-256")
    assert "--- migrations/0001_notes.sql (on disk)" in text.stdout
    assert github.stdout.startswith(f"::error file=migrations/0001_notes.sql,line={line},col=1,title=SC501::SC501 ")
    assert "(on disk)" not in github.stdout


def test_build_text_output_is_unchanged_by_the_formats(make_project: MakeProject, cli: Run) -> None:
    outcome = cli("build", "--project", make_project({"0001_notes.yaml": GOOD}))
    assert outcome.stdout == "wrote migrations/0001_notes.sql\nwrote migrations/manifest.json\n2 written, 0 unchanged\n"
    assert outcome.stderr == ""
