"""Adoption, end to end, on ``examples/adopting``: hand-written files in mixed version styles (``001`` …
``013``, then ``20251013`` …), a backfill and bootstrap rows among them, adopted; a baseline spec; one
generated version and one raw SQL step above them. Run through the first user's runners
(``tests/first_user.py``) and through schemac's own commands, as a maintainer would type them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from tests.conftest import REPO, loader_contract
from tests.first_user import Runner, replay_all

import schemac

EXAMPLE = REPO / "examples" / "adopting"
HAND_WRITTEN = (
    "001_initial_schema.sql",
    "005_template_catalog.sql",
    "013_backfill_section_records.sql",
    "20251013_quality_gates.sql",
    "20251110_template_bootstrap.sql",
)
OLD_VERSIONS = [1, 5, 13, 20251013, 20251110]
NEW_VERSIONS = [20251111, 20251112]
Cli = Callable[..., CompletedProcess[str]]


@pytest.fixture
def before(tmp_path: Path) -> Path:
    """The project as its maintainers have it before schemac: the specs, and only the hand-written files."""
    project = tmp_path / "app"
    shutil.copytree(EXAMPLE / "specs", project / "specs")
    shutil.copy(EXAMPLE / "schemac.toml", project / "schemac.toml")
    (project / "migrations").mkdir()
    for name in HAND_WRITTEN:
        shutil.copy(EXAMPLE / "migrations" / name, project / "migrations" / name)
    return project


def legacy_database(path: Path, project: Path) -> Path:
    """A database that the first user's runner built from the hand-written files, with rows in it."""
    runner = Runner(path)
    try:
        assert runner.apply(project / "migrations") == OLD_VERSIONS
        runner.execute("INSERT INTO documents (id, title) VALUES ('d1', 'Quarterly report')")
        runner.execute("INSERT INTO sections (id, document_id, position) VALUES ('s1', 'd1', 1)")
    finally:
        runner.close()
    return path


def test_adopt_and_build_give_the_example_byte_for_byte(before: Path) -> None:
    adopted = schemac.adopt(before)
    assert adopted.adopted == tuple(f"migrations/{name}" for name in HAND_WRITTEN)
    assert schemac.build(before).written == (
        "migrations/20251111_streaming_sessions.sql",
        "migrations/20251112_streaming_template.sql",
        "migrations/manifest.json",
    )
    made = sorted(p.name for p in (before / "migrations").iterdir())
    assert made == sorted(p.name for p in (EXAMPLE / "migrations").iterdir())
    for name in made:
        assert (before / "migrations" / name).read_bytes() == (EXAMPLE / "migrations" / name).read_bytes(), name
    step = before / "specs" / "20251112_streaming_template.sql"
    assert (before / "migrations" / "20251112_streaming_template.sql").read_bytes() == step.read_bytes()
    assert schemac.check(before).drift == ()
    assert schemac.check(EXAMPLE, cache=False).drift == ()
    outcome = loader_contract(before / "migrations")
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


def test_the_runner_applies_exactly_the_new_versions_to_a_database_the_hand_written_files_built(
    before: Path, tmp_path: Path
) -> None:
    database = legacy_database(tmp_path / "app.db", before)
    schemac.adopt(before)
    schemac.build(before)
    runner = Runner(database)
    try:
        assert runner.apply(before / "migrations") == NEW_VERSIONS
        assert runner.apply(before / "migrations") == []
        assert runner.query("SELECT id FROM templates ORDER BY id") == [("blank",), ("report",), ("streaming",)]
        assert runner.query("SELECT id, document_id FROM sections ORDER BY id") == [("s1", "d1")]
        assert runner.query("PRAGMA foreign_key_check") == []
        runner.execute(
            "INSERT INTO streaming_interaction_sessions (session_id, section_id, created_at, created_by, updated_at, "
            "updated_by) VALUES ('x', 's1', '2025-11-11', 'me', '2025-11-11', 'me')"
        )
    finally:
        runner.close()


def test_a_fresh_database_gets_every_file_in_order_and_replays_harmlessly(before: Path, tmp_path: Path) -> None:
    schemac.adopt(before)
    schemac.build(before)
    runner = Runner(tmp_path / "fresh.db")
    try:
        assert runner.apply(before / "migrations") == OLD_VERSIONS + NEW_VERSIONS
        assert runner.query("SELECT version FROM _migrations ORDER BY version") == [
            (v,) for v in OLD_VERSIONS + NEW_VERSIONS
        ]
    finally:
        runner.close()
    replay_all(tmp_path / "replayed.db", before / "migrations")
    replay_all(tmp_path / "replayed.db", before / "migrations")
    replayed = Runner(tmp_path / "replayed.db")
    try:
        assert replayed.query("SELECT count(*) FROM templates") == [(3,)]
    finally:
        replayed.close()


def test_check_catches_an_edited_adopted_file(before: Path, cli: Cli) -> None:
    schemac.adopt(before)
    schemac.build(before)
    path = before / "migrations" / "013_backfill_section_records.sql"
    path.write_text(path.read_text(encoding="utf-8").replace("0, ''", "1, ''"), encoding="utf-8")
    outcome = cli("check", "--project", before)
    assert (outcome.returncode, outcome.stderr) == (
        1,
        "migrations/013_backfill_section_records.sql:1:1: SC520 edited: adopted hand-written file differs from the "
        "SHA-256 that schemac adopt recorded (hint: restore it from version control; change the data with a raw SQL "
        "step (specs/<version>_<slug>.sql) and the schema with a follow-up spec)\n",
    )
    assert [str(d) for d in _loader_findings(before)] == [
        f"{(before / 'migrations').as_posix()}/013_backfill_section_records.sql:1:1: SC520 edited: adopted "
        "hand-written file differs from the SHA-256 that schemac adopt recorded (hint: restore it from version "
        "control; change the data with a raw SQL step (specs/<version>_<slug>.sql) and the schema with a follow-up "
        "spec)"
    ]


def _loader_findings(project: Path) -> list[schemac.Diagnostic]:
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.load_migrations(project / "migrations")
    return list(caught.value.diagnostics)


def test_the_commands_a_maintainer_types(before: Path, tmp_path: Path, cli: Cli) -> None:
    """From hand-written files and a database they built to the first generated version, applied by schemac."""
    database = legacy_database(tmp_path / "app.db", before)
    steps = [
        ("adopt", "--project", before),
        ("build", "--project", before),
        ("check", "--project", before),
        ("baseline", "--db", database, "--project", before),
        ("apply", "--db", database, "--project", before),
        ("verify", "--db", database, "--project", before),
    ]
    outputs = []
    for step in steps:
        outcome = cli(*step)
        assert (outcome.returncode, outcome.stderr) == (0, ""), step
        outputs.append(outcome.stdout.splitlines())
    assert outputs[0][-1] == "5 adopted, wrote migrations/manifest.json"
    assert outputs[2] == ["3 files match the specs"]
    assert outputs[3][-1] == f"5 recorded as applied; {database} is at version 20251110"
    assert outputs[4][-1] == f"2 applied; {database} is at version 20251112"
    status = schemac.status(before, db=str(database))
    assert [(e.version, e.state) for e in status.entries] == [(v, "applied") for v in OLD_VERSIONS + NEW_VERSIONS]


def test_the_python_api_example_runs_as_written(before: Path, tmp_path: Path) -> None:
    from tests.test_readme import blocks, doc_section

    (example,) = blocks(doc_section("docs/python-api.md", "Adopting an existing project"), "python")
    legacy_database(tmp_path / "app.db", before)
    outcome = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert (outcome.returncode, outcome.stderr) == (0, "")
    assert outcome.stdout == "5 20251110 [20251111, 20251112]\n"
