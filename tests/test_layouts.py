"""Changing how many dialects a project builds moves its output between `migrations/` and
`migrations/<dialect>/`: `build` moves the published files there unchanged (they are published, never
rendered again), `check` reports a stale layout (SC518), and `check --base` compares a dialect's history
with the base's whichever layout either one used.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import KEY_COLUMN, ONE_TABLE

Cli = Callable[..., subprocess.CompletedProcess[str]]
MakeProject = Callable[..., Path]

SPEC_A = ONE_TABLE + KEY_COLUMN
OVERRIDE = "-- rendered by the override\n{% for s in statements %}{{ s }}\n{% endfor %}"
TWO = 'dialects = ["sqlite", "postgresql"]\n'
MOVE_HINT = "(hint: run 'schemac build': it moves the published files there unchanged)"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _files(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted((project / "migrations").rglob("*"))
        if p.is_file()
    }


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


def _single(make_project: MakeProject, cli: Cli) -> Path:
    project = make_project({"0001_a.yaml": SPEC_A}, 'dialects = ["sqlite"]\n')
    assert cli("build", "--project", project).returncode == 0
    return project


def test_adding_a_dialect_moves_the_published_files_unchanged(make_project: MakeProject, cli: Cli) -> None:
    project = _single(make_project, cli)
    published = _files(project)
    override = project / "templates" / "sqlite" / "migration.sql.j2"  # so that rendering again would show
    override.parent.mkdir(parents=True)
    override.write_text(OVERRIDE, encoding="utf-8")
    (project / "schemac.toml").write_text(TWO, encoding="utf-8")
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stderr.splitlines()) == (
        1,
        [
            "migrations/manifest.json:1:1: SC518 stale layout: sqlite migrations are published here, but with 2 "
            f"dialects they belong in migrations/sqlite/ {MOVE_HINT}",
            "migrations/0001_a.sql:1:1: SC511 kept as published: this schemac renders version 1 differently "
            "(schemac or a template changed since it was published) (hint: nothing to do; new versions use the new "
            "rendering, and build --amend renders this newest version again while it has not left your branch)",
            "migrations/postgresql/0001_a.sql:1:1: SC507 missing: the specs produce this file but it was not built "
            "(hint: run 'schemac build')",
            "migrations/postgresql/manifest.json:1:1: SC507 missing: the specs produce this file but it was not built "
            "(hint: run 'schemac build')",
        ],
    )
    built = cli("build", "--project", project)
    assert (built.returncode, built.stderr) == (0, "")
    assert built.stdout.splitlines()[-1] == "4 written, 0 unchanged"
    files = _files(project)
    assert sorted(files) == [
        "migrations/postgresql/0001_a.sql",
        "migrations/postgresql/manifest.json",
        "migrations/sqlite/0001_a.sql",
        "migrations/sqlite/manifest.json",
    ]
    assert files["migrations/sqlite/0001_a.sql"] == published["migrations/0001_a.sql"]
    assert files["migrations/sqlite/manifest.json"] == published["migrations/manifest.json"]
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stdout) == (0, "4 files match the specs (1 kept as published)\n")
    assert checked.stderr.startswith("migrations/sqlite/0001_a.sql:1:1: SC511 kept as published")


def test_going_back_to_one_dialect_moves_its_files_up(make_project: MakeProject, cli: Cli) -> None:
    project = make_project({"0001_a.yaml": SPEC_A}, TWO)
    assert cli("build", "--project", project).returncode == 0
    published = _files(project)
    (project / "schemac.toml").write_text('dialects = ["postgresql"]\n', encoding="utf-8")
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stderr) == (
        1,
        "migrations/postgresql/manifest.json:1:1: SC518 stale layout: postgresql migrations are published here, "
        f"but with 1 dialect they belong in migrations/ {MOVE_HINT}\n",
    )
    built = cli("build", "--project", project)
    assert (built.returncode, built.stdout) == (
        0,
        "wrote migrations/0001_a.sql\nwrote migrations/manifest.json\n2 written, 0 unchanged\n",
    )
    # the dialect no longer built keeps its directory, as it always did
    assert _files(project) == {
        "migrations/0001_a.sql": published["migrations/postgresql/0001_a.sql"],
        "migrations/manifest.json": published["migrations/postgresql/manifest.json"],
        "migrations/sqlite/0001_a.sql": published["migrations/sqlite/0001_a.sql"],
        "migrations/sqlite/manifest.json": published["migrations/sqlite/manifest.json"],
    }
    assert not (project / "migrations" / "postgresql").exists()
    assert cli("check", "--project", project).returncode == 0


def test_a_published_file_edited_in_the_old_layout_stops_the_move(make_project: MakeProject, cli: Cli) -> None:
    project = _single(make_project, cli)
    path = project / "migrations" / "0001_a.sql"
    path.write_bytes(path.read_bytes() + b"-- tweak\n")
    (project / "schemac.toml").write_text(TWO, encoding="utf-8")
    before = _files(project)
    built = cli("build", "--project", project)
    assert (built.returncode, built.stderr) == (
        2,
        "migrations/0001_a.sql:9:1: SC501 edited: file differs from its SHA-256 in the manifest (hint: restore it "
        "from version control; change the schema with a follow-up spec)\n",
    )
    assert _files(project) == before


def test_a_copy_left_in_the_old_layout_is_removed_only_when_it_matches(make_project: MakeProject, cli: Cli) -> None:
    project = _single(make_project, cli)
    published = _files(project)
    (project / "schemac.toml").write_text(TWO, encoding="utf-8")
    assert cli("build", "--project", project).returncode == 0
    moved = _files(project)
    for name in ("0001_a.sql", "manifest.json"):  # what a move interrupted before its clean-up leaves
        (project / "migrations" / name).write_bytes(published[f"migrations/{name}"])
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stderr) == (
        1,
        "migrations/manifest.json:1:1: SC518 stale layout: these sqlite migrations are a copy of those in "
        "migrations/sqlite/, where they belong with 2 dialects (hint: run 'schemac build': it removes the copy)\n",
    )
    built = cli("build", "--project", project)
    assert (built.returncode, built.stdout) == (0, "0 written, 4 unchanged\n")
    assert _files(project) == moved
    (project / "migrations" / "0001_a.sql").write_bytes(published["migrations/0001_a.sql"] + b"-- tweak\n")
    (project / "migrations" / "manifest.json").write_bytes(published["migrations/manifest.json"])
    differing = (
        "migrations/manifest.json:1:1: SC518 stale layout: these sqlite migrations differ from those in "
        "migrations/sqlite/, where they belong with 2 dialects (hint: keep one set: remove the one you do not "
        "publish, then run 'schemac build')\n"
    )
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stderr) == (1, differing)
    before = _files(project)
    built = cli("build", "--project", project)
    assert (built.returncode, built.stderr) == (2, differing)
    assert _files(project) == before


SC513 = (
    "{manifest}:1:1: SC513 version 1 (0001_a.sql) was changed since main (hint: restore it from the base; write a "
    "follow-up spec instead)"
)


@needs_git
@pytest.mark.parametrize(
    ("before", "after", "manifest"),
    [
        ('dialects = ["sqlite"]\n', TWO, "migrations/sqlite/manifest.json"),
        (TWO, 'dialects = ["sqlite"]\n', "migrations/manifest.json"),
    ],
    ids=["one-to-two", "two-to-one"],
)
def test_check_base_compares_a_rewrite_across_layouts(
    make_project: MakeProject, cli: Cli, before: str, after: str, manifest: str
) -> None:
    project = make_project({"0001_a.yaml": SPEC_A}, before)
    assert cli("build", "--project", project).returncode == 0
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "v1")
    (project / "schemac.toml").write_text(after, encoding="utf-8")
    assert cli("build", "--project", project).returncode == 0
    assert cli("check", "--project", project, "--base", "main").returncode == 0  # moving files changes no version
    (project / "specs" / "0001_a.yaml").write_text(SPEC_A.replace("description: x", "description: y"), "utf-8")
    assert cli("build", "--project", project, "--amend").returncode == 0
    checked = cli("check", "--project", project, "--base", "main")
    assert (checked.returncode, checked.stderr) == (1, SC513.format(manifest=manifest) + "\n")


@needs_git
def test_check_base_catches_a_rewrite_beside_a_stale_layout(make_project: MakeProject, cli: Cli) -> None:
    """Issue 14: the old single-dialect files left behind hid a rewrite of version 1 from check --base."""
    project = _single(make_project, cli)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "v1")
    (project / "schemac.toml").write_text(TWO, encoding="utf-8")
    (project / "specs" / "0001_a.yaml").write_text(SPEC_A.replace("description: x", "description: y"), "utf-8")
    assert cli("build", "--project", project, "--amend").returncode == 0
    _git(project, "checkout", "main", "--", "migrations/0001_a.sql", "migrations/manifest.json")  # left behind
    checked = cli("check", "--project", project, "--base", "main")
    assert (checked.returncode, checked.stderr.splitlines()) == (
        1,
        [
            SC513.format(manifest="migrations/sqlite/manifest.json"),
            "migrations/manifest.json:1:1: SC518 stale layout: these sqlite migrations differ from those in "
            "migrations/sqlite/, where they belong with 2 dialects (hint: keep one set: remove the one you do not "
            "publish, then run 'schemac build')",
        ],
    )
