"""Published versions stay as published when schemac or a template renders them differently.

A version the manifest lists, whose file and spec are as published, is kept byte for byte with its
manifest entry: `build` writes nothing for it and refuses nothing because of it, and `check` only
warns (SC511, exit 0). An edited file or spec is still refused; a file edited together with its
manifest entry is what `check --base` catches (SC513). An edited manifest is drift for `check`, as
an edited file is (exit 1).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

import schemac
from conftest import KEY_COLUMN, ONE_TABLE
from schemac import render
from schemac.migrations.manifest import Manifest, parse_manifest, sha256_hex

Cli = Callable[..., subprocess.CompletedProcess[str]]
MakeProject = Callable[..., Path]

SPEC_A = ONE_TABLE + KEY_COLUMN
SPEC_B = ONE_TABLE.replace("  t:", "  b:") + KEY_COLUMN
OVERRIDE = "-- rendered by the override\n{% for s in statements %}{{ s }}\n{% endfor %}"

KEPT = (
    "migrations/0001_a.sql:1:1: SC511 kept as published: this schemac renders version 1 differently "
    "(schemac or a template changed since it was published) (hint: nothing to do; new versions use the new rendering"
)
KEPT_NEWEST = KEPT + ", and build --amend renders this newest version again while it has not left your branch)"
KEPT_OLDER = KEPT + ")"
KEPT_2 = KEPT_NEWEST.replace("0001_a", "0002_b").replace("version 1", "version 2")


def _files(project: Path) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in sorted((project / "migrations").rglob("*"))
        if p.is_file()
    }


def _entries(data: bytes) -> Manifest:
    return parse_manifest(data, "manifest.json")


def _published(make_project: MakeProject, cli: Cli) -> Path:
    project = make_project({"0001_a.yaml": SPEC_A})
    assert cli("build", "--project", project).returncode == 0
    return project


def _override(project: Path) -> None:
    path = project / "templates" / "sqlite" / "migration.sql.j2"
    path.parent.mkdir(parents=True)
    path.write_text(OVERRIDE, encoding="utf-8")


def test_a_template_override_keeps_published_files_and_new_specs_build(make_project: MakeProject, cli: Cli) -> None:
    project = _published(make_project, cli)
    published = _files(project)
    _override(project)
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stdout, checked.stderr) == (
        0,
        "2 files match the specs (1 kept as published)\n",
        KEPT_NEWEST + "\n",
    )
    (project / "specs" / "0002_b.yaml").write_text(SPEC_B, encoding="utf-8")
    built = cli("build", "--project", project)
    assert (built.returncode, built.stdout, built.stderr) == (
        0,
        "wrote migrations/0002_b.sql\nwrote migrations/manifest.json\n2 written, 1 unchanged\n",
        "",
    )
    files = _files(project)
    assert files["migrations/0001_a.sql"] == published["migrations/0001_a.sql"]
    assert files["migrations/0002_b.sql"].startswith(b"-- rendered by the override\nCREATE TABLE")
    old, new = _entries(published["migrations/manifest.json"]), _entries(files["migrations/manifest.json"])
    assert new.entries[0] == old.entries[0]
    assert new.to_text().encode() == files["migrations/manifest.json"]
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stdout, checked.stderr) == (
        0,
        "3 files match the specs (1 kept as published)\n",
        KEPT_OLDER + "\n",
    )
    as_json = cli("check", "--project", project, "--format", "json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == [
        {
            "file": "migrations/0001_a.sql",
            "line": 1,
            "column": 1,
            "code": "SC511",
            "severity": "warning",
            "message": KEPT_OLDER.split(" SC511 ")[1].split(" (hint: ")[0],
            "hint": "nothing to do; new versions use the new rendering",
        }
    ]
    github = cli("check", "--project", project, "--format", "github")
    assert (github.returncode, github.stdout) == (
        0,
        "::warning file=migrations/0001_a.sql,line=1,col=1,title=SC511::" + KEPT_OLDER.split(":1:1: ")[1] + "\n",
    )
    assert cli("build", "--project", project).stdout == "0 written, 3 unchanged\n"
    assert _files(project) == files


def _upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the packaged rendering differ, as a newer schemac's would."""
    rendered = render.render_version

    def newer(*args: object, **kwargs: object) -> tuple[str, list[str]]:
        text, non_idempotent = rendered(*args, **kwargs)  # type: ignore[arg-type]
        return text.replace("-- Do not edit", "-- Rendered by a newer schemac.\n-- Do not edit", 1), non_idempotent

    monkeypatch.setattr(render, "render_version", newer)


def test_a_new_packaged_rendering_keeps_published_versions(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project({"0001_a.yaml": SPEC_A})
    schemac.build(project)
    published = _files(project)
    _upgrade(monkeypatch)
    (project / "specs" / "0002_b.yaml").write_text(SPEC_B, encoding="utf-8")
    result = schemac.build(project, cache=False)
    assert (result.written, result.unchanged) == (
        ("migrations/0002_b.sql", "migrations/manifest.json"),
        ("migrations/0001_a.sql",),
    )
    files = _files(project)
    assert files["migrations/0001_a.sql"] == published["migrations/0001_a.sql"]
    assert b"-- Rendered by a newer schemac.\n" in files["migrations/0002_b.sql"]
    assert (
        _entries(files["migrations/manifest.json"]).entries[0]
        == _entries(published["migrations/manifest.json"]).entries[0]
    )
    report = schemac.check(project, cache=False)
    assert report.ok  # warnings alone are no drift
    assert [(d.kind, d.diagnostic.severity, str(d.diagnostic)) for d in report.drift] == [
        ("kept", "warning", KEPT_OLDER)
    ]
    assert [m.file for m in schemac.load_migrations(project / "migrations")] == ["0001_a.sql", "0002_b.sql"]
    assert [p.status for p in schemac.plan_changes(project)] == []  # the next build writes nothing


def test_amend_renders_only_the_newest_again(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project({"0001_a.yaml": SPEC_A, "0002_b.yaml": SPEC_B})
    schemac.build(project)
    published = _files(project)
    _upgrade(monkeypatch)
    result = schemac.build(project, amend=True, cache=False)
    assert result.written == ("migrations/0002_b.sql", "migrations/manifest.json")
    files = _files(project)
    assert files["migrations/0001_a.sql"] == published["migrations/0001_a.sql"]
    assert b"-- Rendered by a newer schemac.\n" in files["migrations/0002_b.sql"]
    (newest,) = [e for e in _entries(files["migrations/manifest.json"]).entries if e.version == 2]
    assert newest.sha256 == sha256_hex(files["migrations/0002_b.sql"])
    assert [str(d.diagnostic) for d in schemac.check(project, cache=False).drift] == [KEPT_OLDER]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            "file",
            "migrations/0001_a.sql:1:1: SC501 edited: file differs from its SHA-256 in the manifest (hint: restore "
            "it from version control; change the schema with a follow-up spec)",
        ),
        (
            "spec",
            "specs/0001_a.yaml:1:1: SC510 edited: spec changed after it was published as migrations/0001_a.sql "
            "(manifest entry for version 1) (hint: revert the spec and write a follow-up spec (schemac new <slug>); "
            "only the newest version may change, with build --amend)",
        ),
    ],
)
def test_an_edited_published_file_or_spec_is_still_refused_under_a_new_rendering(
    make_project: MakeProject, cli: Cli, change: str, error: str
) -> None:
    project = make_project({"0001_a.yaml": SPEC_A, "0002_b.yaml": SPEC_B})
    assert cli("build", "--project", project).returncode == 0
    _override(project)
    if change == "file":
        path = project / "migrations" / "0001_a.sql"
        path.write_bytes(path.read_bytes() + b"-- tweak\n")
    else:
        (project / "specs" / "0001_a.yaml").write_text(SPEC_A + "      x: {type: text}\n", encoding="utf-8")
    before = _files(project)
    built = cli("build", "--project", project)
    assert (built.returncode, built.stderr) == (2, error + "\n")  # build and check say it in the same words
    assert _files(project) == before
    checked = cli("check", "--project", project)
    assert (checked.returncode, checked.stderr.splitlines()) == (1, [error, KEPT_2])


# ---- a file edited together with its manifest entry: check --base -------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-C", str(root), *args],
        check=True,
        capture_output=True,
    )


@needs_git
def test_a_file_edited_with_its_manifest_entry_is_caught_by_check_base(make_project: MakeProject, cli: Cli) -> None:
    project = _published(make_project, cli)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-q", "-m", "v1")
    path = project / "migrations" / "0001_a.sql"
    path.write_bytes(path.read_bytes().replace(b'"id" BIGINT NOT NULL', b'"id" TEXT NOT NULL'))
    manifest_path = project / "migrations" / "manifest.json"
    manifest = _entries(manifest_path.read_bytes())
    (entry,) = manifest.entries
    forged = Manifest(manifest.dialect, (replace(entry, sha256=sha256_hex(path.read_bytes())),))
    manifest_path.write_text(forged.to_text(), encoding="utf-8")
    alone = cli("check", "--project", project)  # consistent on its own: it looks like a version kept as published
    assert (alone.returncode, alone.stderr) == (0, KEPT_NEWEST + "\n")
    against_base = cli("check", "--project", project, "--base", "main")
    assert (against_base.returncode, against_base.stderr.splitlines()) == (
        1,
        [
            "migrations/manifest.json:1:1: SC513 version 1 (0001_a.sql) was changed since main (hint: restore it "
            "from the base; write a follow-up spec instead)",
            KEPT_NEWEST,
        ],
    )


# ---- an edited manifest is drift, as an edited file is -------------------------------------------


def _edit_file(project: Path) -> None:
    path = project / "migrations" / "0001_a.sql"
    path.write_bytes(path.read_bytes() + b"-- tweak\n")


def _edit_hash(project: Path) -> None:
    path = project / "migrations" / "manifest.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"sha256": "', '"sha256": "0', 1), encoding="utf-8")


def _break_json(project: Path) -> None:
    path = project / "migrations" / "manifest.json"
    path.write_text(path.read_text(encoding="utf-8")[:-3], encoding="utf-8")


EDITS = {
    "sql": (
        _edit_file,
        "migrations/0001_a.sql:9:1: SC501 edited: file differs from its SHA-256 in the manifest (hint: restore it "
        "from version control; change the schema with a follow-up spec)",
    ),
    "manifest-hash": (
        _edit_hash,
        "migrations/manifest.json:6:1: SC506 manifest chain does not match its files: the manifest was edited by "
        "hand (hint: restore manifest.json from version control: it records what was published)",
    ),
    "manifest-json": (
        _break_json,
        "migrations/manifest.json:20:14: SC504 manifest is not valid JSON: Expecting ',' delimiter (hint: restore "
        "manifest.json from version control: it records what was published)",
    ),
}


def test_an_edited_manifest_and_an_edited_file_exit_alike(make_project: MakeProject, cli: Cli, tmp_path: Path) -> None:
    outcomes = {}
    for name, (edit, _) in EDITS.items():
        project = make_project({"0001_a.yaml": SPEC_A}, name=name)
        assert cli("build", "--project", project).returncode == 0
        edit(project)
        checked = cli("check", "--project", project)
        as_json = cli("check", "--project", project, "--format", "json")
        built = cli("build", "--project", project)
        applied = cli("apply", "--db", tmp_path / f"{name}.db", "--project", project)
        outcomes[name] = (checked.returncode, checked.stderr.splitlines(), as_json.returncode, built.returncode)
        assert applied.returncode == 2  # apply refuses both alike, running nothing
        assert not (tmp_path / f"{name}.db").exists()
    # check: drift of a generated file, exit 1, whichever was edited; build refuses both (bad input, exit 2)
    assert outcomes == {name: (1, [finding], 1, 2) for name, (_, finding) in EDITS.items()}
