"""Evolution from the user's side: refused changes with their location, `plan`, immutability of
published versions (`build`, `--amend`) and `check --base` against a git ref."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from schemac.migrations.history import base_problems
from schemac.migrations.manifest import Manifest, ManifestEntry

BASE = """description: Base.
tables:
  parent:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      amount: {type: bigint}
      note: {type: text, nullable: true}
  child:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      parent_id: {type: integer, references: parent.id}
"""

MakeProject = Callable[..., Path]


def _errors(project: Path) -> list[str]:
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.build(project)
    return [str(d).split(" (hint:")[0] for d in caught.value.diagnostics]


def _built(make_project: MakeProject) -> Path:
    project = make_project({"0001_base.yaml": BASE})
    schemac.build(project)
    return project


def _snapshot(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (project / "migrations").iterdir()}


def test_destructive_changes_are_refused_with_their_location_and_nothing_is_written(
    make_project: MakeProject,
) -> None:
    project = _built(make_project)
    before = _snapshot(project)
    (project / "specs" / "0002_shrink.yaml").write_text(
        """description: Shrink.
drop_tables: [child]
tables:
  parent:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      amount: {type: integer}
      note: {type: text}
      extra: {type: text}
""",
        encoding="utf-8",
    )
    assert _errors(project) == [
        "specs/0002_shrink.yaml:2:15: SC403 destructive change refused: dropping table 'child'",
        "specs/0002_shrink.yaml:8:22: SC403 destructive change refused: "
        "narrowing column 'parent.amount' from bigint to integer",
        "specs/0002_shrink.yaml:9:7: SC403 destructive change refused: "
        "making column 'parent.note' NOT NULL without a default",
        "specs/0002_shrink.yaml:10:7: SC403 destructive change refused: "
        "adding NOT NULL column 'parent.extra' without a default",
    ]
    assert _snapshot(project) == before


def test_dropping_a_column_is_refused_at_its_table(
    make_project: MakeProject, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = _built(make_project)
    text = BASE.replace("      note: {type: text, nullable: true}\n", "")
    (project / "specs" / "0002_drop_note.yaml").write_text(text, encoding="utf-8")
    outcome = cli("build", "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr.startswith(
        "specs/0002_drop_note.yaml:3:3: SC403 destructive change refused: dropping column 'parent.note' (hint: "
    )
    (project / "specs" / "0002_drop_note.yaml").write_text("allow_destructive: true\n" + text, encoding="utf-8")
    assert cli("build", "--project", project).returncode == 0
    sql = (project / "migrations" / "0002_drop_note.sql").read_text(encoding="utf-8")
    assert 'ALTER TABLE "parent" DROP COLUMN "note";' in sql


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            BASE.replace("  parent:\n", "  mother:\n    renamed_from: father\n"),
            ["specs/0002_bad.yaml:4:19: SC404 table 'mother' is renamed from 'father', which does not exist"],
        ),
        (
            BASE.replace("  parent:\n", "  mother:\n    renamed_from: parent\n")
            + "  father:\n    renamed_from: parent\n    audit: none\n    columns:\n      id: {type: integer}\n",
            [
                "specs/0002_bad.yaml:14:46: SC305 foreign key fk_child_parent_id references table 'parent', "
                "which does not exist",
                "specs/0002_bad.yaml:16:19: SC405 tables 'mother' and 'father' are both renamed from 'parent'",
            ],
        ),
        (
            BASE.replace("  child:\n", "  child:\n    renamed_from: parent\n"),
            ["specs/0002_bad.yaml:10:19: SC405 table 'child' is renamed from 'parent', but 'child' already exists"],
        ),
        (
            BASE.replace("amount: {type: bigint}", "total: {type: bigint, renamed_from: sum}"),
            ["specs/0002_bad.yaml:7:43: SC404 column 'parent.total' is renamed from 'sum', which does not exist"],
        ),
        (
            BASE.replace(
                "note: {type: text, nullable: true}", "memo: {type: text, nullable: true, renamed_from: amount}"
            ),
            ["specs/0002_bad.yaml:8:56: SC405 column 'parent.memo' is renamed from 'amount', which is still listed"],
        ),
        (
            "description: Drop.\nallow_destructive: true\ndrop_tables: [parent, ghost]\n",
            [
                "specs/0002_bad.yaml:3:15: SC408 table 'parent' cannot be dropped: child still reference it",
                "specs/0002_bad.yaml:3:23: SC407 drop_tables names 'ghost', which does not exist",
            ],
        ),
        (
            "description: Drop.\nallow_destructive: true\ndrop_tables: [child]\n" + BASE.split("\n", 1)[1],
            ["specs/0002_bad.yaml:3:15: SC406 table 'child' is both dropped and listed in this spec"],
        ),
    ],
    ids=[
        "table-rename-source-missing",
        "two-tables-renamed-from-one",
        "table-rename-onto-existing",
        "column-rename-source-missing",
        "column-renamed-from-listed-column",
        "drop-referenced-and-unknown",
        "drop-and-list",
    ],
)
def test_bad_evolution_is_refused_with_location(make_project: MakeProject, spec: str, expected: list[str]) -> None:
    project = _built(make_project)
    before = _snapshot(project)
    (project / "specs" / "0002_bad.yaml").write_text(spec, encoding="utf-8")
    assert _errors(project) == expected
    assert _snapshot(project) == before


def test_plan_shows_operations_and_sql_without_writing(
    make_project: MakeProject, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = _built(make_project)
    before = _snapshot(project)
    spec = BASE.replace(
        "note: {type: text, nullable: true}", "remark: {type: text, nullable: true, renamed_from: note}"
    )
    (project / "specs" / "0002_rename_note.yaml").write_text(spec, encoding="utf-8")
    (planned,) = schemac.plan_changes(project)
    assert (planned.dialect, planned.version, planned.spec, planned.file, planned.status) == (
        "sqlite",
        2,
        "specs/0002_rename_note.yaml",
        "migrations/0002_rename_note.sql",
        "new",
    )
    assert planned.operations == ("rename column parent.note to remark",)
    assert planned.non_idempotent == ('ALTER TABLE "parent" RENAME COLUMN "note" TO "remark";',)
    outcome = cli("plan", "--project", project)
    assert outcome.returncode == 0
    assert outcome.stdout.startswith(
        "specs/0002_rename_note.yaml -> migrations/0002_rename_note.sql (sqlite, new)\n"
        "  rename column parent.note to remark\n"
        '  not re-runnable: ALTER TABLE "parent" RENAME COLUMN "note" TO "remark";\n'
    )
    as_json = cli("plan", "--project", project, "--format", "json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == [
        {
            "dialect": "sqlite",
            "version": 2,
            "spec": "specs/0002_rename_note.yaml",
            "file": "migrations/0002_rename_note.sql",
            "status": "new",
            "operations": ["rename column parent.note to remark"],
            "sql": planned.sql,
            "non_idempotent": ['ALTER TABLE "parent" RENAME COLUMN "note" TO "remark";'],
        }
    ]
    assert _snapshot(project) == before
    schemac.build(project)
    assert (project / "migrations" / "0002_rename_note.sql").read_text(encoding="utf-8") == planned.sql
    assert schemac.plan_changes(project) == ()


def test_published_spec_change_is_refused_and_amend_rewrites_only_the_newest(make_project: MakeProject) -> None:
    project = _built(make_project)
    follow_up = BASE.replace(
        "note: {type: text, nullable: true}",
        "note: {type: text, nullable: true}\n      x: {type: text, nullable: true}",
    )
    (project / "specs" / "0002_x.yaml").write_text(follow_up, encoding="utf-8")
    schemac.build(project)
    published = _snapshot(project)
    (project / "specs" / "0001_base.yaml").write_text(BASE.replace("Base.", "Base, edited."), encoding="utf-8")
    for amend in (False, True):
        with pytest.raises(schemac.SchemacError) as caught:
            schemac.build(project, amend=amend)
        (diag,) = caught.value.diagnostics
        assert (diag.file, diag.code) == ("specs/0001_base.yaml", "SC510")
        assert diag.message == (
            "edited: spec changed after it was published as migrations/0001_base.sql (manifest entry for version 1)"
        )
        assert "write a follow-up spec" in diag.hint
    assert _snapshot(project) == published
    (project / "specs" / "0001_base.yaml").write_text(BASE, encoding="utf-8")
    (project / "specs" / "0002_x.yaml").write_text(follow_up.replace("Base.", "Add x."), encoding="utf-8")
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.build(project)
    assert [d.code for d in caught.value.diagnostics] == ["SC510"]
    result = schemac.build(project, amend=True)
    assert result.written == ("migrations/0002_x.sql", "migrations/manifest.json")
    assert _snapshot(project)["0001_base.sql"] == published["0001_base.sql"]
    assert b"-- Add x." in _snapshot(project)["0002_x.sql"]


def test_template_change_that_alters_published_sql_keeps_the_published_file(
    make_project: MakeProject, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = _built(make_project)
    published = _snapshot(project)
    override = project / "templates" / "sqlite"
    override.mkdir(parents=True)
    packaged = Path(schemac.__file__).parent / "templates" / "sqlite" / "create_table.sql.j2"
    (override / "create_table.sql.j2").write_text(packaged.read_text().replace("CREATE TABLE", "create table"))
    outcome = cli("build", "--project", project)  # a new process: template environments are cached per process
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (0, "0 written, 2 unchanged\n", "")
    assert _snapshot(project) == published
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stdout) == (0, "2 files match the specs (1 kept as published)\n")
    assert checked.stderr.startswith("migrations/0001_base.sql:1:1: SC511 kept as published: ")


def test_new_spec_numbered_below_the_newest_published_is_refused(make_project: MakeProject) -> None:
    project = make_project({"0001_base.yaml": BASE, "0005_later.yaml": "description: Nothing yet.\n"})
    schemac.build(project)
    (project / "specs" / "0003_late.yaml").write_text("description: Late.\n", encoding="utf-8")
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.build(project)
    (diag,) = caught.value.diagnostics
    assert str(diag).startswith(
        "specs/0003_late.yaml:1:1: SC515 version 3 (0003_late.sql) is new but numbered at or below 5 "
        "(0005_later.sql), the newest version recorded"
    )


# ---- check --base ----------------------------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-C", str(root), *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _repo(make_project: MakeProject) -> Path:
    project = _built(make_project)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "v1")
    return project


@needs_git
def test_check_base_finds_two_branches_that_both_added_a_version(
    make_project: MakeProject, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = _repo(make_project)
    _git(project, "checkout", "-q", "-b", "feature")
    (project / "specs" / "0002_feature.yaml").write_text("description: Feature.\n", encoding="utf-8")
    schemac.build(project)
    assert schemac.check(project, base="main").ok
    _git(project, "stash", "-u", "-q")
    _git(project, "checkout", "-q", "main")
    (project / "specs" / "0002_main.yaml").write_text("description: Main.\n", encoding="utf-8")
    schemac.build(project)
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "main adds 2")
    _git(project, "checkout", "-q", "feature")
    _git(project, "stash", "pop", "-q")
    assert schemac.check(project).ok  # alone, the branch is consistent
    outcome = cli("check", "--project", project, "--base", "main")
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines() == [
        "migrations/manifest.json:1:1: SC512 version 2 (0002_main.sql) was published at main and is removed "
        "(hint: restore it ('schemac rebase --onto main' takes what main published); write a follow-up spec instead)",
        "migrations/manifest.json:1:1: SC515 version 2 (0002_feature.sql) is new but numbered at or below main's "
        "newest version 2 (another branch added versions) (hint: 'schemac rebase --onto main' renumbers this branch's "
        "new specs above 2 and rebuilds)",
    ]


@needs_git
def test_check_base_finds_an_amended_published_version(make_project: MakeProject) -> None:
    project = _repo(make_project)
    (project / "specs" / "0001_base.yaml").write_text(BASE.replace("Base.", "Base, amended."), encoding="utf-8")
    schemac.build(project, amend=True)
    result = schemac.check(project, base="HEAD")
    assert [(d.diagnostic.code, d.kind, d.diagnostic.message) for d in result.drift] == [
        ("SC513", "history", "version 1 (0001_base.sql) was changed since HEAD")
    ]


@needs_git
def test_check_base_needs_a_repository_and_a_known_ref(
    make_project: MakeProject, cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = _built(make_project)
    outcome = cli("check", "--project", project, "--base", "main")
    assert outcome.returncode == 2
    assert outcome.stderr.startswith("migrations/manifest.json:1:1: SC516 ")
    assert "is not inside a git repository" in outcome.stderr
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "v1")
    outcome = cli("check", "--project", project, "--base", "no-such-branch")
    assert outcome.returncode == 2
    assert outcome.stderr.startswith(
        "migrations/manifest.json:1:1: SC517 git ref 'no-such-branch' does not name a commit"
    )


def test_base_problems_reports_reordered_versions() -> None:
    first = ManifestEntry(1, "a", "0001_a.sql", "1" * 64, "specs/0001_a.yaml", "a" * 64, "f" * 64)
    second = ManifestEntry(2, "b", "0002_b.sql", "2" * 64, "specs/0002_b.yaml", "b" * 64, "f" * 64)
    problems = base_problems(Manifest("sqlite", (first, second)), Manifest("sqlite", (second, first)), "main", "m")
    assert [(d.code, d.message) for d in problems] == [
        ("SC514", "published versions are in another order than at main")
    ]


def test_relisting_a_table_unchanged_gives_no_operations(make_project: MakeProject) -> None:
    project = _built(make_project)
    (project / "specs" / "0002_same.yaml").write_text(
        BASE.replace("    audit: none\n", "    description: Same shape, new words.\n    audit: none\n", 1),
        encoding="utf-8",
    )
    (planned,) = schemac.plan_changes(project)
    assert planned.operations == ()
    manifest = json.loads(schemac.build(project).compiled.outputs[0].manifest.to_text())
    first, second = manifest["files"]
    assert first["schema_fingerprint"] == second["schema_fingerprint"]


def test_a_restated_check_must_use_the_renamed_column(make_project: MakeProject) -> None:
    spec = """description: People.
tables:
  people:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      fullname: {type: text}
    checks:
      - name: named
        expression: "length(fullname) > 0"
"""
    project = make_project({"0001_people.yaml": spec})
    schemac.build(project)
    renamed = spec.replace("fullname: {type: text}", "name: {type: text, renamed_from: fullname}")
    (project / "specs" / "0002_rename.yaml").write_text(renamed, encoding="utf-8")
    assert _errors(project) == [
        "specs/0002_rename.yaml:10:21: SC310 check of table 'people' is not a valid expression over its columns: "
        "no such column: fullname"
    ]


def test_a_type_change_that_sqlite_stores_alike_needs_no_rebuild(make_project: MakeProject) -> None:
    project = _built(make_project)
    (project / "specs" / "0002_wider.yaml").write_text(
        BASE.replace(
            "id: {type: integer, primary_key: true}\n      amount",
            "id: {type: bigint, primary_key: true}\n      amount",
        ).replace("parent_id: {type: integer", "parent_id: {type: bigint"),
        encoding="utf-8",
    )
    (planned,) = schemac.plan_changes(project)
    assert planned.operations == ()
    assert "ALTER" not in planned.sql and "CREATE" not in planned.sql
    schemac.build(project)
    manifest = json.loads((project / "migrations" / "manifest.json").read_text())
    first, second = manifest["files"]
    assert first["schema_fingerprint"] != second["schema_fingerprint"]  # the declared schema did change


def test_renaming_a_referenced_column_leaves_the_restated_child_alone(make_project: MakeProject) -> None:
    project = _built(make_project)
    child_first = "description: Rename parent.id.\ntables:\n" + BASE.split("  child:\n")[1].join(["  child:\n", ""])
    child_first = child_first.replace("references: parent.id", "references: parent.parent_key")
    parent = (
        BASE.split("tables:\n")[1]
        .split("  child:\n")[0]
        .replace(
            "id: {type: integer, primary_key: true}", "parent_key: {type: integer, primary_key: true, renamed_from: id}"
        )
    )
    (project / "specs" / "0002_key.yaml").write_text(child_first + parent, encoding="utf-8")
    (planned,) = schemac.plan_changes(project)
    assert planned.operations == ("rename column parent.id to parent_key",)


def test_a_change_without_a_template_is_refused_at_its_table(make_project: MakeProject) -> None:
    """A dialect that claims to ALTER checks in place but ships no add_check template cannot express the change."""
    import dataclasses

    from schemac import render
    from schemac.dialects import IN_PLACE_DEFAULT, SQLITE
    from schemac.planner import plan
    from schemac.project.compiler import read_specs
    from schemac.project.settings import load_settings

    project = make_project(
        {
            "0001_base.yaml": BASE,
            "0002_check.yaml": BASE.replace("amount: {type: bigint}", 'amount: {type: bigint, check: "amount > 0"}'),
        }
    )
    specs, _ = read_specs(load_settings(project))
    plans, found = plan(specs)
    assert found == []
    optimistic = dataclasses.replace(SQLITE, in_place=IN_PLACE_DEFAULT)
    with pytest.raises(schemac.SchemacError) as caught:
        render.render_version(plans[1], optimistic, render.environment("sqlite", None))
    assert [str(d) for d in caught.value.diagnostics] == [
        "specs/0002_check.yaml:4:5: SC409 sqlite cannot express this change: add check ck_parent_amount on parent "
        "(hint: there is no sqlite template add_check.sql.j2; change the table in two specs, or add the template)"
    ]


def test_reordering_columns_rebuilds_the_table_keeping_rows(make_project: MakeProject) -> None:
    import sqlite3

    project = _built(make_project)
    swapped = BASE.replace(
        "      amount: {type: bigint}\n      note: {type: text, nullable: true}\n",
        "      note: {type: text, nullable: true}\n      amount: {type: bigint}\n",
    )
    (project / "specs" / "0002_swap.yaml").write_text(swapped, encoding="utf-8")
    (planned,) = schemac.plan_changes(project)
    assert planned.operations == (
        "rebuild table parent (ALTER TABLE cannot reorder columns): reorder columns of parent: id, note, amount "
        "(copies child too: it references it)",
    )
    schemac.build(project)
    con = sqlite3.connect(":memory:", isolation_level=None)
    first, second = (m.sql for m in schemac.load_migrations(project / "migrations"))
    con.executescript(first)
    con.execute("INSERT INTO parent VALUES (1, 10, 'hi')")
    con.executescript(second)
    assert [row[1] for row in con.execute("PRAGMA table_info(parent)")] == ["id", "note", "amount"]
    assert con.execute("SELECT * FROM parent").fetchall() == [(1, "hi", 10)]
