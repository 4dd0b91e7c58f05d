"""The CLI end to end, as a user runs it (``python -m schemac`` in a subprocess), and the same verbs
from Python.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from schemac.spec.validation import schema_text

Cli = Callable[..., subprocess.CompletedProcess[str]]


def spec(table: str, *columns: str, description: str = "A version.") -> str:
    """A spec with one table: an integer ``id`` key plus ``columns`` given as ``name: {...}`` lines."""
    lines = [f"      {c}" for c in ("id: {type: integer, primary_key: true}", *columns)]
    return f"description: {description}\ntables:\n  {table}:\n    audit: none\n    columns:\n" + "\n".join(lines) + "\n"


def write(project: Path, name: str, text: str) -> Path:
    path = project / "specs" / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Every file in ``directory`` with its inode and bytes: an unchanged inode means not rewritten."""
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def built(make_project: Callable[..., Path], cli: Cli) -> Path:
    """A project with two published versions."""
    project = make_project(
        {"0001_orders.yaml": spec("orders", "total: {type: integer}"), "0002_items.yaml": spec("items")}
    )
    assert cli("build", "--project", project).returncode == 0
    return project


# --- init ----------------------------------------------------------------------------------------


def test_init_creates_the_layout_and_is_idempotent(tmp_path: Path, cli: Cli) -> None:
    project = tmp_path / "shop"
    first = cli("init", "--project", project)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout == f"initialised {project}: specs/, migrations/, schemac.toml, schema/spec.schema.json\n"
    assert (project / "specs").is_dir() and (project / "migrations").is_dir()
    assert (project / "schema" / "spec.schema.json").read_text(encoding="utf-8") == schema_text()
    settings = (project / "schemac.toml").read_text(encoding="utf-8")
    assert 'dialects = ["sqlite"]' in settings and '[audit]\ndefault = "full"' in settings
    before = snapshot(project) | snapshot(project / "schema")
    second = cli("init", "--project", project)
    assert (second.returncode, second.stdout) == (0, f"initialised {project}: nothing to create\n")
    assert snapshot(project) | snapshot(project / "schema") == before


def test_init_keeps_settings_that_live_in_pyproject(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.schemac]\nspecs = "specs"\n', encoding="utf-8")
    outcome = cli("init", cwd=tmp_path)  # no --project: the current directory
    assert outcome.returncode == 0, outcome.stderr
    assert not (tmp_path / "schemac.toml").exists()
    assert (tmp_path / "specs").is_dir()


# --- new -----------------------------------------------------------------------------------------


def test_new_numbers_specs_and_the_starter_validates(tmp_path: Path, cli: Cli) -> None:
    project = tmp_path / "shop"
    cli("init", "--project", project)
    first = cli("new", "create_orders", "--project", project)
    assert (first.returncode, first.stdout) == (0, f"{project / 'specs' / '0001_create_orders.yaml'}\n")
    text = (project / "specs" / "0001_create_orders.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../schema/spec.schema.json\ndescription: ")
    assert cli("validate", "--project", project).stdout == "1 specs, 0 tables: valid\n"

    # The commented example is itself a valid table once uncommented.
    uncommented = "\n".join(line.removeprefix("# ") for line in text.splitlines()[1:]) + "\n"
    (project / "specs" / "0001_create_orders.yaml").write_text(uncommented, encoding="utf-8")
    assert cli("validate", "--project", project).stdout == "1 specs, 1 tables: valid\n"

    second = cli("new", "add_items", "--project", project, "--description", "Items.")
    assert second.stdout == f"{project / 'specs' / '0002_add_items.yaml'}\n"
    assert "description: Items.\n" in (project / "specs" / "0002_add_items.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (["001_a.yaml", "005_b.yaml"], "006_next.yaml"),
        (["2026112401_a.yaml"], "2026112402_next.yaml"),
        (["9_a.yaml"], "10_next.yaml"),
        ([], "0001_next.yaml"),
    ],
)
def test_new_takes_the_next_free_version_keeping_the_width(
    make_project: Callable[..., Path], cli: Cli, existing: list[str], expected: str
) -> None:
    project = make_project({name: spec(f"t{i}") for i, name in enumerate(existing)})
    outcome = cli("new", "next", "--project", project)
    assert (outcome.returncode, outcome.stdout) == (0, f"{project / 'specs' / expected}\n")
    assert sorted(p.name for p in (project / "specs").iterdir()) == sorted([*existing, expected])
    # Without schema/spec.schema.json beside specs/ there is no editor hint line to point at it.
    assert (project / "specs" / expected).read_text(encoding="utf-8").startswith("description: ")


def test_new_goes_above_published_versions(built: Path, cli: Cli) -> None:
    (built / "specs" / "0002_items.yaml").unlink()  # the manifest still lists version 2
    outcome = cli("new", "again", "--project", built)
    assert outcome.stdout == f"{built / 'specs' / '0003_again.yaml'}\n"


@pytest.mark.parametrize("description", ["Add: orders #1", "yes", "123", "true", "multi\nline", "- x", 'it\'s "q"'])
def test_new_writes_any_description_as_a_yaml_string(make_project: Callable[..., Path], description: str) -> None:
    from schemac.spec.source import load_document

    project = make_project({})
    path = schemac.new(project, "next", description)
    assert load_document(path.read_bytes(), "x").data == {"description": description}
    assert schemac.validate(project).specs == 1


def test_new_refuses_a_bad_slug(make_project: Callable[..., Path], cli: Cli) -> None:
    project = make_project({})
    outcome = cli("new", "Bad-Slug", "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr == "<slug>:1:1: SC112 slug 'Bad-Slug' must match [a-z0-9_]+\n"
    assert list((project / "specs").iterdir()) == []


# --- validate ------------------------------------------------------------------------------------


def test_validate_ok_and_every_located_finding(make_project: Callable[..., Path], cli: Cli) -> None:
    project = make_project({"0001_orders.yaml": spec("orders", "total: {type: integer}")})
    ok = cli("validate", "--project", project)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "1 specs, 1 tables: valid\n", "")
    write(project, "0002_bad.yaml", spec("items", "name: {type: txt}", "size: {type: integer, nulable: true}"))
    write(project, "0003_worse.yaml", "description: x\ntables:\n  Items: {columns: {id: {type: text}}}\n")
    bad = cli("validate", "--project", project)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert bad.stderr.splitlines() == [
        "specs/0002_bad.yaml:7:20: SC205 unknown type 'txt' (hint: did you mean 'text'?)",
        "specs/0002_bad.yaml:8:29: SC201 unknown key 'nulable' in tables.items.columns.size "
        "(hint: did you mean 'nullable'?)",
        "specs/0003_worse.yaml:3:3: SC301 'Items' is not a valid name: use lowercase letters, digits and _, "
        "not starting with a digit",
    ]
    assert not (project / "migrations").exists()


# --- build ---------------------------------------------------------------------------------------


def test_build_writes_then_writes_nothing(make_project: Callable[..., Path], cli: Cli) -> None:
    project = make_project({"0001_orders.yaml": spec("orders")})
    first = cli("build", "--project", project)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.splitlines() == [
        "wrote migrations/0001_orders.sql",
        "wrote migrations/manifest.json",
        "2 written, 0 unchanged",
    ]
    before = snapshot(project / "migrations")
    second = cli("build", "--project", project)
    assert (second.returncode, second.stdout) == (0, "0 written, 2 unchanged\n")
    assert snapshot(project / "migrations") == before

    write(project, "0002_items.yaml", spec("items"))
    third = cli("build", "--project", project)
    assert third.stdout.splitlines() == [
        "wrote migrations/0002_items.sql",
        "wrote migrations/manifest.json",
        "2 written, 1 unchanged",
    ]
    after = snapshot(project / "migrations")
    assert after["0001_orders.sql"] == before["0001_orders.sql"]  # the same inode: never rewritten


def test_build_with_bad_input_writes_nothing(built: Path, cli: Cli) -> None:
    before = snapshot(built / "migrations")
    write(
        built, "0003_bad.yaml", "description: x\ntables:\n  bad:\n    columns: {id: {type: integer, check: 'id >'}}\n"
    )
    outcome = cli("build", "--project", built)
    assert outcome.returncode == 2
    assert outcome.stderr.startswith("specs/0003_bad.yaml:4:42: SC310 check of table 'bad' is not a valid expression")
    assert snapshot(built / "migrations") == before


@pytest.mark.parametrize("command", ["build", "check", "validate"])
@pytest.mark.parametrize("project", ["empty", "missing"])
def test_a_missing_specs_directory_or_project(tmp_path: Path, cli: Cli, command: str, project: str) -> None:
    (tmp_path / "empty").mkdir()
    outcome = cli(command, "--project", tmp_path / project)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        "specs:1:1: SC111 specs directory 'specs' does not exist (hint: run 'schemac init' or pass --project)\n"
    )
    assert not (tmp_path / "missing").exists()


# --- check ---------------------------------------------------------------------------------------


def test_check_passes_on_a_fresh_build(built: Path, cli: Cli) -> None:
    outcome = cli("check", "--project", built)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (0, "3 files match the specs\n", "")


def test_check_names_an_added_file(built: Path, cli: Cli) -> None:
    (built / "migrations" / "0009_extra.sql").write_text("SELECT 1;\n", encoding="utf-8")
    outcome = cli("check", "--project", built)
    assert outcome.returncode == 1
    assert outcome.stderr == (
        "migrations/0009_extra.sql:1:1: SC503 added: migration file is not produced by any spec "
        "(hint: remove it, add the spec that produces it, or record a hand-written file with 'schemac adopt'; "
        "new hand-written SQL goes in specs/ as a raw SQL step)\n"
    )


def test_check_names_an_edited_file_with_a_diff(built: Path, cli: Cli) -> None:
    path = built / "migrations" / "0001_orders.sql"
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace('"total" INTEGER NOT NULL', '"total" INTEGER'), encoding="utf-8")
    outcome = cli("check", "--project", built)
    assert outcome.returncode == 1
    assert outcome.stderr == (
        "migrations/0001_orders.sql:7:1: SC501 edited: file differs from its SHA-256 in the manifest "
        "(hint: restore it from version control; change the schema with a follow-up spec)\n"
    )
    assert outcome.stdout.splitlines()[:2] == [
        "--- migrations/0001_orders.sql (on disk)",
        "+++ migrations/0001_orders.sql (from specs)",
    ]
    assert '-    "total" INTEGER,\n+    "total" INTEGER NOT NULL,\n' in outcome.stdout


def test_check_names_a_removed_file(built: Path, cli: Cli) -> None:
    (built / "migrations" / "0002_items.sql").unlink()
    outcome = cli("check", "--project", built)
    assert outcome.returncode == 1
    assert outcome.stderr == (
        "migrations/0002_items.sql:1:1: SC502 removed: published migration is missing "
        "(hint: restore it from version control)\n"
    )


def test_check_and_build_name_a_removed_published_spec(built: Path, cli: Cli) -> None:
    (built / "specs" / "0002_items.yaml").unlink()
    removed = (
        "specs/0002_items.yaml:1:1: SC502 removed: spec of published migration migrations/0002_items.sql was removed "
        "(hint: restore the spec; drop tables in a follow-up spec instead)"
    )
    checked = cli("check", "--project", built)
    assert checked.returncode == 1
    assert checked.stderr.splitlines()[0] == removed
    built_again = cli("build", "--project", built)
    assert (built_again.returncode, built_again.stderr) == (2, removed + "\n")  # the same words as check


def test_check_names_stale_output_for_a_new_spec(built: Path, cli: Cli) -> None:
    write(built, "0003_more.yaml", spec("more"))
    outcome = cli("check", "--project", built)
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines() == [
        "migrations/0003_more.sql:1:1: SC507 missing: the specs produce this file but it was not built "
        "(hint: run 'schemac build')",
        "migrations/manifest.json:6:1: SC507 out of date: the specs give different content "
        "(hint: run 'schemac build' (a published spec must not change: write a follow-up))",
    ]
    assert outcome.stdout.startswith(
        "--- migrations/manifest.json (on disk)\n+++ migrations/manifest.json (from specs)"
    )


def test_check_names_a_published_spec_that_was_edited(built: Path, cli: Cli) -> None:
    write(built, "0001_orders.yaml", spec("orders", "total: {type: bigint}"))
    outcome = cli("check", "--project", built)
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines()[0] == (
        "specs/0001_orders.yaml:1:1: SC510 edited: spec changed after it was published as "
        "migrations/0001_orders.sql (manifest entry for version 1) (hint: revert the spec and write a follow-up "
        "spec (schemac new <slug>); only the newest version may change, with build --amend)"
    )


# --- immutability --------------------------------------------------------------------------------


def test_build_refuses_to_change_a_published_spec(built: Path, cli: Cli) -> None:
    before = snapshot(built / "migrations")
    write(built, "0001_orders.yaml", spec("orders", "total: {type: bigint}"))
    for args in ((), ("--amend",)):  # --amend covers only the newest version
        outcome = cli("build", "--project", built, *args)
        assert outcome.returncode == 2
        assert outcome.stderr == (
            "specs/0001_orders.yaml:1:1: SC510 edited: spec changed after it was published as "
            "migrations/0001_orders.sql (manifest entry for version 1) (hint: revert the spec and write a follow-up "
            "spec (schemac new <slug>); only the newest version may change, with build --amend)\n"
        )
    assert snapshot(built / "migrations") == before


def test_amend_rewrites_only_the_newest_version(built: Path, cli: Cli) -> None:
    before = snapshot(built / "migrations")
    write(built, "0002_items.yaml", spec("items", "name: {type: text}"))
    refused = cli("build", "--project", built)
    assert refused.returncode == 2
    assert refused.stderr.startswith("specs/0002_items.yaml:1:1: SC510 edited: spec changed after it was published")
    amended = cli("build", "--project", built, "--amend")
    assert amended.returncode == 0, amended.stderr
    assert amended.stdout.splitlines() == [
        "wrote migrations/0002_items.sql",
        "wrote migrations/manifest.json",
        "2 written, 1 unchanged",
    ]
    after = snapshot(built / "migrations")
    assert after["0001_orders.sql"] == before["0001_orders.sql"]
    assert '"name" TEXT NOT NULL' in after["0002_items.sql"][1].decode()
    assert cli("check", "--project", built).returncode == 0


def test_a_new_spec_at_or_below_the_newest_published_version_is_refused(built: Path, cli: Cli) -> None:
    (built / "specs" / "0002_items.yaml").rename(built / "specs" / "0005_items.yaml")
    (built / "migrations" / "0002_items.sql").unlink()
    (built / "migrations" / "manifest.json").unlink()
    assert cli("build", "--project", built).returncode == 0  # published now: 1 and 5
    write(built, "0003_late.yaml", spec("late"))
    outcome = cli("build", "--project", built)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        "specs/0003_late.yaml:1:1: SC515 version 3 (0003_late.sql) is new but numbered at or below 5 "
        "(0005_items.sql), the newest version recorded: a runner applies only versions above the newest it has "
        "applied, so it would never run this one (hint: renumber specs/0003_late.yaml above 5 and rebuild)\n"
    )


def test_a_published_file_edited_on_disk_stops_the_build(built: Path, cli: Cli) -> None:
    path = built / "migrations" / "0001_orders.sql"
    path.write_bytes(path.read_bytes() + b"-- tweak\n")
    outcome = cli("build", "--project", built)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        "migrations/0001_orders.sql:10:1: SC501 edited: file differs from its SHA-256 in the manifest "
        "(hint: restore it from version control; change the schema with a follow-up spec)\n"
    )


# --- entry points and --project ------------------------------------------------------------------


def test_console_script_and_module_entry_points(built: Path, cli: Cli) -> None:
    script = Path(sys.executable).with_name("schemac")
    by_script = subprocess.run([script, "check", "-p", built], capture_output=True, text=True, timeout=300)
    assert (by_script.returncode, by_script.stdout) == (0, "3 files match the specs\n")
    by_module = cli("--help")
    assert by_module.returncode == 0
    for command in ("init", "new", "validate", "build", "check"):
        assert command in by_module.stdout
    version = cli("--version")
    assert version.stdout.startswith("schemac ")


@pytest.mark.parametrize("command", [["validate"], ["build"], ["check"], ["new", "next"]])
def test_every_command_works_from_the_project_directory_or_with_project(
    make_project: Callable[..., Path], cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    here = make_project({"0001_orders.yaml": spec("orders")}, name="here")
    there = make_project({"0001_orders.yaml": spec("orders")}, name="there")
    if command != ["build"]:
        schemac.build(here)
        schemac.build(there)
    in_place = cli(*command, cwd=here)
    elsewhere = cli(*command, "--project", there, cwd=tmp_path)
    assert in_place.returncode == elsewhere.returncode == 0, in_place.stderr + elsewhere.stderr
    assert sorted(p.name for p in here.rglob("*")) == sorted(p.name for p in there.rglob("*"))


def test_json_format_for_findings(make_project: Callable[..., Path], cli: Cli) -> None:
    project = make_project({"0001_bad.yaml": "description: x\ntables: []\n"})
    outcome = cli("validate", "--project", project, "--format", "json")
    assert outcome.returncode == 2
    assert json.loads(outcome.stdout) == [
        {
            "file": "specs/0001_bad.yaml",
            "line": 2,
            "column": 9,
            "code": "SC202",
            "severity": "error",
            "message": "tables must be a mapping, not a list",
            "hint": "",
        }
    ]


# --- the same verbs from Python ------------------------------------------------------------------


def test_python_api_mirrors_the_cli(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    assert schemac.init(project) == ["specs/", "migrations/", "schemac.toml", "schema/spec.schema.json"]
    assert schemac.init(project) == []
    path = schemac.new(project, "orders", "Orders.")
    assert path == (project / "specs" / "0001_orders.yaml").resolve()
    path.write_text(spec("orders"), encoding="utf-8")
    result = schemac.validate(project)
    assert (result.specs, result.tables) == (1, 1)
    built = schemac.build(project)
    assert built.written == ("migrations/0001_orders.sql", "migrations/manifest.json")
    assert schemac.build(project).written == ()
    report = schemac.check(project)
    assert report.ok and report.files == 2
    (migration,) = schemac.load_migrations(project / "migrations")
    assert (migration.version, migration.name, migration.file) == (1, "orders", "0001_orders.sql")

    (project / "migrations" / "0001_orders.sql").write_text("-- edited\n", encoding="utf-8")
    drift = schemac.check(project).drift
    assert [(d.kind, d.diagnostic.code, d.diagnostic.file) for d in drift] == [
        ("edited", "SC501", "migrations/0001_orders.sql")
    ]
    path.write_text(spec("orders", "total: {type: integer}"), encoding="utf-8")
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.build(project)
    assert [(d.code, d.file) for d in caught.value.diagnostics] == [("SC501", "migrations/0001_orders.sql")]


def test_directories_named_in_the_settings(tmp_path: Path, cli: Cli) -> None:
    project = tmp_path / "p"
    (project / "schema_specs").mkdir(parents=True)
    (project / "schema_specs" / "0001_orders.yaml").write_text(spec("orders"), encoding="utf-8")
    (project / "tpl" / "sqlite").mkdir(parents=True)
    (project / "tpl" / "sqlite" / "migration.sql.j2").write_text(
        "-- house style\n{% for s in statements %}\n{{ s }}\n{% endfor %}", encoding="utf-8"
    )
    (project / "pyproject.toml").write_text(
        '[tool.schemac]\nspecs = "schema_specs"\nmigrations = "out"\ntemplates = "tpl"\n', encoding="utf-8"
    )
    outcome = cli("build", "--project", project)
    assert outcome.stdout.splitlines()[:2] == ["wrote out/0001_orders.sql", "wrote out/manifest.json"]
    written = (project / "out" / "0001_orders.sql").read_text(encoding="utf-8")
    assert written.startswith('-- house style\nCREATE TABLE IF NOT EXISTS "orders" (\n')
    assert json.loads((project / "out" / "manifest.json").read_text())["files"][0]["spec"] == (
        "schema_specs/0001_orders.yaml"
    )
    assert not (project / "migrations").exists()
    assert cli("check", "--project", project).returncode == 0


def test_validate_stays_the_verb_when_its_module_is_imported(make_project: Callable[..., Path]) -> None:
    import importlib

    module = importlib.import_module("schemac.spec.validation")  # the validation stage, also imported by the compiler
    assert callable(module.check_document)
    assert schemac.validate is not module
    assert schemac.validate(make_project({"0001_a.yaml": spec("a")})).tables == 1
