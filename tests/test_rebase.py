"""``schemac rebase``: two branches added the same version, in real git repositories.

The base's specs, migrations and manifest stay exactly as committed there, this branch's new specs
move above the base's newest version, and the project builds, checks and applies; a spec the base
published that differs here, a ref that names nothing and a missing repository are refused with
nothing changed; a repository's own configuration never runs anything.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import run_cli, set_dialects

IDENTITY = ("-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "core.hooksPath=/dev/null")


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Git as the tests drive it: no user or system configuration, no editor."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    environment |= {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "GIT_EDITOR": "true"}
    done = subprocess.run(
        ["git", *IDENTITY, "-C", str(root), *args], capture_output=True, text=True, env=environment, timeout=60
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


def table_spec(table: str, *columns: str) -> str:
    lines = "".join(f"      {column}: {{type: text, nullable: true}}\n" for column in columns)
    return (
        f"description: The {table} table.\ntables:\n  {table}:\n    audit: none\n    columns:\n"
        f"      id: {{type: integer, primary_key: true}}\n{lines}"
    )


def schemac_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "--project", root)


def commit_specs(root: Path, specs: dict[str, str], message: str, *, build: bool = True) -> None:
    for name, text in specs.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    if build:
        built = schemac_cli(root, "build", "--quiet")
        assert built.returncode == 0, built.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def repository(
    root: Path,
    first: dict[str, str],
    main: dict[str, str],
    feature: dict[str, str],
    dialects: list[str] | None = None,
    top: Path | None = None,
) -> Path:
    """A repository (at ``top``, default ``root``) whose main holds the project ``root`` with ``first`` then
    ``main``, and whose branch ``feature``, checked out, left main after ``first`` and added ``feature``;
    every commit built."""
    (root / "specs").mkdir(parents=True)
    if dialects is not None:
        set_dialects(root, dialects)
    git(top or root, "init", "-q", "-b", "main")
    commit_specs(root, first, "first")
    git(root, "checkout", "-qb", "feature")
    if feature:
        commit_specs(root, feature, "feature")
    git(root, "checkout", "-q", "main")
    if main:
        commit_specs(root, main, "main")
    git(root, "checkout", "-q", "feature")
    return root


FIRST = {"0001_create_items.yaml": table_spec("items", "name")}
TAGS = {"0002_add_tags.yaml": table_spec("tags", "label")}
NOTES = {"0002_add_notes.yaml": table_spec("notes", "body")}


@pytest.fixture
def two_branches(tmp_path: Path) -> Path:
    """main and feature both added version 2 (``add_tags`` and ``add_notes``)."""
    return repository(tmp_path / "repo", FIRST, TAGS, NOTES)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the working tree (git's own directory and the build cache left out)."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).parts[0] not in (".git", ".schemac-cache")
    }


def committed(root: Path, ref: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(root), "show", f"{ref}:{path}"], capture_output=True, check=True).stdout


def test_in_the_middle_of_a_git_rebase_the_branch_moves_above_main_and_the_rebase_continues(two_branches: Path) -> None:
    root = two_branches
    stopped = git(root, "rebase", "main", check=False)
    assert (
        stopped.returncode == 1 and "CONFLICT (content): Merge conflict in migrations/manifest.json" in stopped.stdout
    )
    assert b"<<<<<<<" in (root / "migrations" / "manifest.json").read_bytes()
    before = schemac_cli(root, "build")
    assert before.returncode == 2

    done = schemac_cli(root, "rebase")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "took migrations/manifest.json from main\n"
        "removed migrations/0002_add_notes.sql\n"
        "moved specs/0002_add_notes.yaml -> specs/0003_add_notes.yaml\n"
        "wrote migrations/0003_add_notes.sql\n"
        "wrote migrations/manifest.json\n"
        "1 moved onto main; 2 written, 2 unchanged\n"
    )
    base = json.loads(committed(root, "main", "migrations/manifest.json"))
    now = json.loads((root / "migrations" / "manifest.json").read_bytes())
    assert now["files"][:2] == base["files"]  # main's entries, byte for byte in meaning and order
    assert [(e["version"], e["file"], e["spec"]) for e in now["files"][2:]] == [
        (3, "0003_add_notes.sql", "specs/0003_add_notes.yaml")
    ]
    for name in ("specs/0002_add_tags.yaml", "migrations/0002_add_tags.sql", "migrations/0001_create_items.sql"):
        assert (root / name).read_bytes() == committed(root, "main", name), name
    assert (root / "specs" / "0003_add_notes.yaml").read_text(encoding="utf-8") == NOTES["0002_add_notes.yaml"]
    assert not (root / "specs" / "0002_add_notes.yaml").exists()

    git(root, "add", "-A")
    git(root, "rebase", "--continue")
    assert git(root, "status", "--porcelain").stdout == ""
    assert schemac_cli(root, "check").returncode == 0
    checked = schemac_cli(root, "check", "--base", "main")
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "4 files match the specs\n", "")
    database = root.parent / "app.db"
    applied = schemac_cli(root, "apply", "--db", str(database))
    assert applied.returncode == 0, applied.stderr
    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"items", "tags", "notes"} <= tables


def test_a_project_in_a_subdirectory_rebases_from_inside_it(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    project = repository(root / "db", FIRST, TAGS, NOTES, top=root)
    git(root, "rebase", "main", check=False)

    done = run_cli("rebase", cwd=project)

    assert (done.returncode, done.stderr) == (0, "")
    assert "moved specs/0002_add_notes.yaml -> specs/0003_add_notes.yaml\n" in done.stdout
    git(root, "add", "-A")
    git(root, "rebase", "--continue")
    assert schemac_cli(project, "check", "--base", "main").returncode == 0


def test_a_branch_version_above_mains_stays_and_the_conflicted_manifest_is_rebuilt(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo", FIRST, TAGS, {"0003_add_notes.yaml": NOTES["0002_add_notes.yaml"]})
    git(root, "rebase", "main", check=False)
    before = schemac_cli(root, "build")
    assert before.returncode == 2
    assert before.stderr == (
        "migrations/manifest.json:6:1: SC504 manifest is not valid JSON: Expecting property name enclosed in double "
        "quotes (hint: restore manifest.json from version control: it records what was published)\n"
    )

    done = schemac_cli(root, "rebase")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "took migrations/manifest.json from main\n"
        "wrote migrations/manifest.json\n"
        "0 moved onto main; 1 written, 3 unchanged\n"
    )
    git(root, "add", "-A")
    git(root, "rebase", "--continue")
    assert schemac_cli(root, "check", "--base", "main").returncode == 0


def test_a_dry_run_prints_the_moves_and_changes_nothing(two_branches: Path) -> None:
    root = two_branches
    git(root, "rebase", "main", check=False)
    before = snapshot(root)

    done = schemac_cli(root, "rebase", "--dry-run")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "would take migrations/manifest.json from main\n"
        "would remove migrations/0002_add_notes.sql\n"
        "would move specs/0002_add_notes.yaml -> specs/0003_add_notes.yaml\n"
        "1 to move onto main (dry run: nothing changed)\n"
    )
    assert snapshot(root) == before
    result = schemac.rebase(root, dry_run=True)
    assert result.moved == (("specs/0002_add_notes.yaml", "specs/0003_add_notes.yaml"),)
    assert (result.onto, result.built) == ("main", None)
    assert snapshot(root) == before


def test_a_branch_only_behind_main_takes_mains_versions(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo", FIRST, TAGS, {})
    behind = schemac_cli(root, "check", "--base", "main")
    assert behind.returncode == 1
    assert "SC512 version 2 (0002_add_tags.sql) was published at main and is removed" in behind.stderr

    done = schemac_cli(root, "rebase")

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "took specs/0002_add_tags.yaml from main\n"
        "took migrations/0002_add_tags.sql from main\n"
        "took migrations/manifest.json from main\n"
        "0 moved onto main; 0 written, 3 unchanged\n"
    )
    checked = schemac_cli(root, "check", "--base", "main")
    assert (checked.returncode, checked.stderr) == (0, "")
    for name in ("specs/0002_add_tags.yaml", "migrations/0002_add_tags.sql", "migrations/manifest.json"):
        assert (root / name).read_bytes() == committed(root, "main", name), name


def test_without_a_git_rebase_the_python_api_renumbers_against_the_ref_given(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo", FIRST, TAGS, NOTES)
    git(root, "branch", "-m", "main", "trunk")

    result = schemac.rebase(root, onto="trunk")

    assert result.onto == "trunk"
    assert result.moved == (("specs/0002_add_notes.yaml", "specs/0003_add_notes.yaml"),)
    assert result.taken == ("specs/0002_add_tags.yaml", "migrations/0002_add_tags.sql", "migrations/manifest.json")
    assert result.removed == ("migrations/0002_add_notes.sql",)
    assert result.built is not None and result.built.written == (
        "migrations/0003_add_notes.sql",
        "migrations/manifest.json",
    )
    assert schemac.check(root, base="trunk").ok
    again = schemac.rebase(root, onto="trunk")  # nothing left to do
    assert (again.moved, again.taken, again.removed) == ((), (), ())
    assert again.built is not None and again.built.written == ()


@pytest.mark.parametrize(
    ("first", "main", "feature", "moved"),
    [
        pytest.param(
            {"007_items.yaml": table_spec("items")},
            {"008_tags.yaml": table_spec("tags")},
            {"008_notes.yaml": table_spec("notes"), "009_seed_notes.sql": "INSERT INTO notes (id) VALUES (1);\n"},
            [
                ("specs/008_notes.yaml", "specs/009_notes.yaml"),
                ("specs/009_seed_notes.sql", "specs/010_seed_notes.sql"),
            ],
            id="three digits, a raw SQL step keeps its place after its spec",
        ),
        pytest.param(
            {"20251110_items.yaml": table_spec("items")},
            {"20251111_tags.yaml": table_spec("tags"), "20251113_labels.yaml": table_spec("labels")},
            {"20251111_notes.yaml": table_spec("notes"), "20251120_pins.yaml": table_spec("pins")},
            [("specs/20251111_notes.yaml", "specs/20251114_notes.yaml")],
            id="date style, a later version above main's newest stays",
        ),
        pytest.param(
            {"0001_items.yaml": table_spec("items")},
            {"0002_tags.yaml": table_spec("tags"), "0003_labels.yaml": table_spec("labels")},
            {"0002_notes.yaml": table_spec("notes"), "0004_pins.yaml": table_spec("pins")},
            [("specs/0002_notes.yaml", "specs/0004_notes.yaml"), ("specs/0004_pins.yaml", "specs/0005_pins.yaml")],
            id="order kept: a later version moves as far as needed",
        ),
        pytest.param(
            {"0009_items.yaml": table_spec("items")},
            {"0010_tags.yaml": table_spec("tags")},
            {"0010_notes.yaml": table_spec("notes")},
            [("specs/0010_notes.yaml", "specs/0011_notes.yaml")],
            id="four digits",
        ),
    ],
)
def test_moves_keep_the_order_and_the_version_style(
    tmp_path: Path,
    first: dict[str, str],
    main: dict[str, str],
    feature: dict[str, str],
    moved: list[tuple[str, str]],
) -> None:
    root = repository(tmp_path / "repo", first, main, feature)

    result = schemac.rebase(root, onto="main")

    assert list(result.moved) == moved
    assert schemac.check(root, base="main").ok
    database = tmp_path / "app.db"
    applied = schemac_cli(root, "apply", "--db", str(database))
    assert applied.returncode == 0, applied.stderr


def test_a_spec_main_published_that_differs_here_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo", FIRST, TAGS, NOTES)
    (root / "specs" / "0001_create_items.yaml").write_text(table_spec("items", "name", "price"), encoding="utf-8")
    before = snapshot(root)

    done = schemac_cli(root, "rebase")

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "specs/0001_create_items.yaml:1:1: SC535 was published at main and differs here: rebase never changes what "
        "the base published (hint: restore it (git checkout main -- specs/0001_create_items.yaml) and put this "
        "branch's change in a new spec)\n"
    )
    assert snapshot(root) == before


def test_a_spec_both_branches_added_under_one_name_is_refused_in_the_middle_of_the_rebase(tmp_path: Path) -> None:
    root = repository(tmp_path / "repo", FIRST, TAGS, {"0002_add_tags.yaml": table_spec("tags", "colour")})
    stopped = git(root, "rebase", "main", check=False)
    assert "CONFLICT (add/add): Merge conflict in specs/0002_add_tags.yaml" in stopped.stdout
    before = snapshot(root)

    done = schemac_cli(root, "rebase")

    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "specs/0002_add_tags.yaml:1:1: SC535 was published at main and differs here: rebase never changes what "
        "the base published (hint: restore it (git checkout main -- specs/0002_add_tags.yaml) and put this "
        "branch's change in a new spec)\n"
    )
    assert snapshot(root) == before


@pytest.mark.parametrize("ref", ["nosuch", "--output=/tmp/x", "main:specs"])
def test_a_ref_that_names_no_commit_is_refused_and_nothing_changes(two_branches: Path, ref: str) -> None:
    before = snapshot(two_branches)

    done = schemac_cli(two_branches, "rebase", f"--onto={ref}")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"--onto:1:1: SC517 git ref '{ref}' does not name a commit (hint: fetch it, or pass a branch, tag or SHA)\n"
    )
    assert snapshot(two_branches) == before


def test_with_no_base_to_find_it_asks_for_onto(two_branches: Path) -> None:
    git(two_branches, "branch", "-m", "main", "trunk")

    done = schemac_cli(two_branches, "rebase")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "--onto:1:1: SC517 no base to rebase onto: no git rebase is under way, the branch tracks no other branch, "
        "and neither main nor origin/main exists (hint: pass --onto REF)\n"
    )


def test_the_branch_upstream_is_the_base_when_it_tracks_another_branch(two_branches: Path) -> None:
    root = two_branches
    git(root, "branch", "-m", "main", "trunk")
    git(root, "branch", "--set-upstream-to=trunk")

    assert schemac.rebase(root, dry_run=True).onto == "trunk"
    git(root, "branch", "main", "trunk~1")  # main, behind trunk, is not what the branch tracks
    assert schemac.rebase(root, dry_run=True).onto == "trunk"


def test_outside_a_git_repository_it_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "0001_items.yaml").write_text(table_spec("items"), encoding="utf-8")

    done = schemac_cli(root, "rebase", "--onto", "main")

    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"specs:1:1: SC516 '{root}' is not inside a git repository (hint: run it in a git checkout)\n"
    )


def test_a_failed_build_after_the_moves_says_what_was_done_and_build_finishes(tmp_path: Path) -> None:
    # Both branches create table tags: after the move, this branch's spec would drop main's column.
    root = repository(tmp_path / "repo", FIRST, TAGS, {"0002_add_tags_too.yaml": table_spec("tags", "colour")})

    done = schemac_cli(root, "rebase")

    refused = schemac_cli(root, "build")
    assert refused.returncode == done.returncode != 0
    assert done.stdout == ""
    assert done.stderr == (
        "specs:1:1: SC536 took the migrations main published; moved specs/0002_add_tags_too.yaml -> "
        "specs/0003_add_tags_too.yaml; then the build failed (hint: fix the build's findings and run schemac build "
        "(or schemac rebase again))\n" + refused.stderr
    )
    assert refused.stderr == (
        "specs/0003_add_tags_too.yaml:3:3: SC403 destructive change refused: dropping column 'tags.label' (hint: "
        "existing rows can lose data or stop this migration; if intended, add allow_destructive: true to this spec)\n"
    )
    assert (root / "migrations" / "manifest.json").read_bytes() == committed(root, "main", "migrations/manifest.json")
    assert not (root / "migrations" / "0002_add_tags_too.sql").exists()
    spec = root / "specs" / "0003_add_tags_too.yaml"
    spec.write_text(table_spec("tags", "label", "colour"), encoding="utf-8")
    again = schemac_cli(root, "rebase")
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith("0 moved onto main; 2 written, 2 unchanged\n")
    assert schemac_cli(root, "check", "--base", "main").returncode == 0


def test_with_the_suggested_gitattributes_the_manifest_stays_json_and_rebase_resolves_it(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / ".gitattributes").write_text("migrations/**/manifest.json -merge linguist-generated\n", encoding="utf-8")
    repository(root, FIRST, TAGS, NOTES)
    stopped = git(root, "rebase", "main", check=False)
    assert "CONFLICT (content): Merge conflict in migrations/manifest.json" in stopped.stdout
    manifest = (root / "migrations" / "manifest.json").read_bytes()
    assert manifest == committed(root, "main", "migrations/manifest.json")  # whole, valid JSON: main's

    done = schemac_cli(root, "rebase")

    assert done.returncode == 0, done.stderr
    assert "moved specs/0002_add_notes.yaml -> specs/0003_add_notes.yaml\n" in done.stdout
    git(root, "add", "-A")
    git(root, "rebase", "--continue")
    assert schemac_cli(root, "check", "--base", "main").returncode == 0


def test_several_dialects_rebase_and_apply_on_every_engine(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    engines = ["sqlite", "postgresql", "mariadb"]
    root = repository(tmp_path / "repo", FIRST, TAGS, NOTES, dialects=engines)
    git(root, "rebase", "main", check=False)

    done = schemac_cli(root, "rebase")

    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if not line.startswith("wrote")] == [
        *(f"took migrations/{engine}/manifest.json from main" for engine in engines),
        *(f"removed migrations/{engine}/0002_add_notes.sql" for engine in engines),
        "moved specs/0002_add_notes.yaml -> specs/0003_add_notes.yaml",
        "1 moved onto main; 6 written, 6 unchanged",
    ]
    git(root, "add", "-A")
    git(root, "rebase", "--continue")
    assert schemac_cli(root, "check", "--base", "main").returncode == 0
    for engine in engines:
        url = database_factory(engine)
        applied = schemac_cli(root, "apply", "--db", url)
        assert applied.returncode == 0, applied.stderr
        verified = schemac_cli(root, "verify", "--db", url)
        assert verified.returncode == 0, verified.stderr
        assert "at version 3" in verified.stdout


@pytest.mark.parametrize("command", [("rebase",), ("check", "--base", "main")])
def test_the_repository_config_never_runs_a_program(
    command: tuple[str, ...], two_branches: Path, tmp_path: Path
) -> None:
    """``rebase`` and ``check --base`` (which CI runs on untrusted pull requests) read the repository with
    git, whose configuration can name programs: none of them runs."""
    root = two_branches
    if command[0] == "rebase":
        git(root, "rebase", "main", check=False)
    marker = tmp_path / "ran"
    script = tmp_path / "plant.sh"
    script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{marker}'\nexit 0\n", encoding="utf-8")
    script.chmod(0o755)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-checkout", "post-rewrite", "reference-transaction", "post-index-change"):
        (hooks / hook).symlink_to(script)
    config = {
        "core.fsmonitor": str(script),
        "core.hooksPath": str(hooks),
        "core.pager": str(script),
        "alias.ls-tree": f"!{script}",
        "alias.show": f"!{script}",
        "diff.external": str(script),
    }
    for key, value in config.items():
        git(root, "config", key, value)

    done = schemac_cli(root, *command)

    if command[0] == "rebase":
        assert done.returncode == 0, done.stderr
        assert "moved specs/0002_add_notes.yaml -> specs/0003_add_notes.yaml\n" in done.stdout
    else:  # the branch and main both added version 2
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.endswith(
            "migrations/manifest.json:1:1: SC515 version 2 (0002_add_notes.sql) is new but numbered at or below "
            "main's newest version 2 (another branch added versions) (hint: 'schemac rebase --onto main' renumbers "
            "this branch's new specs above 2 and rebuilds)\n"
        )
    assert not marker.exists()
    # The planted configuration is live: git's own status runs the fsmonitor program.
    subprocess.run(["git", "-C", str(root), "status"], capture_output=True, timeout=60, check=False)
    assert marker.exists()


@pytest.mark.parametrize("command", [("rebase", "--onto", "main"), ("check", "--base", "main")])
def test_a_repository_committed_inside_the_project_is_refused(command: tuple[str, ...], tmp_path: Path) -> None:
    """A pull request can commit a bare repository's files (HEAD, config, objects/, refs/) into the
    project's directory; git would take it for the repository, with the history and configuration its
    author chose. ``rebase`` and ``check --base`` refuse it instead of reading it."""
    top = tmp_path / "repo"
    root = repository(top / "db", FIRST, TAGS, {}, top=top)
    seed = tmp_path / "seed"
    git(tmp_path, "init", "-q", "-b", "main", str(seed))
    git(seed, "commit", "-q", "--allow-empty", "-m", "planted")
    for part in ("HEAD", "objects", "refs"):
        subprocess.run(["cp", "-r", str(seed / ".git" / part), str(root / part)], check=True)
    (root / "config").write_text("[core]\n\tbare = false\n\tworktree = ..\n", encoding="utf-8")
    git(top, "add", "-A")
    git(top, "commit", "-qm", "a repository inside the project")
    before = snapshot(root)

    done = schemac_cli(root, *command)

    shown = "specs" if command[0] == "rebase" else "migrations/manifest.json"
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"{shown}:1:1: SC516 the git repository found from '{root}' is '{root}', not a checkout's .git "
        "(hint: remove the repository files committed there (HEAD, config, objects/, refs/))\n"
    )
    assert snapshot(root) == before


def test_a_project_whose_specs_are_its_top_directory_rebases(tmp_path: Path) -> None:
    """``specs = "."``: the base's specs are the files at the top of its tree."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "schemac.toml").write_text('specs = "."\n', encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    for name, text in FIRST.items():
        (root / name).write_text(text, encoding="utf-8")
    assert schemac_cli(root, "build", "--quiet").returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")

    done = schemac_cli(root, "rebase", "--onto", "main", "--dry-run")

    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    assert done.stdout == "0 to move onto main (dry run: nothing changed)\n"
