"""Repository content is untrusted: every input is a bounded read of a regular file inside the project,
every path setting stays inside it, and nothing is written through a planted symlink (issue 13, items 2, 4, 5).

Each test plants what a pull request could hold and runs the real CLI as CI would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import schemac
from conftest import KEY_COLUMN, ONE_TABLE, findings, run_cli

SPEC = ONE_TABLE + KEY_COLUMN
SECRET = "s3cr3t-token-of-the-ci-runner"
TIMEOUT = 120
"""Seconds before a run counts as hung: before the fixes, these inputs read forever or blocked."""


def built(root: Path, specs: dict[str, str] | None = None, settings: str | None = None) -> Path:
    """A project with its migrations built."""
    (root / "specs").mkdir(parents=True)
    for name, text in (specs or {"0001_a.yaml": SPEC}).items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    if settings is not None:
        (root / "schemac.toml").write_text(settings, encoding="utf-8")
    schemac.build(root)
    return root


def cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with a deadline, so that a hang fails the test instead of stalling the suite."""
    if env is None:
        return run_cli(*args)
    return subprocess.run(
        [sys.executable, "-m", "schemac", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env={**os.environ, **env},
    )


def outside_file(tmp_path: Path) -> Path:
    """A file outside every project, holding a secret."""
    path = tmp_path / "elsewhere" / "secret.txt"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    return path


# --- item 2: devices and FIFOs are refused, never read -------------------------------------------


DEVICE_TARGETS = ["/dev/zero", "/dev/urandom"]


@pytest.mark.parametrize("device", DEVICE_TARGETS)
def test_a_spec_that_is_a_device_is_refused_without_reading_it(tmp_path: Path, device: str) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").symlink_to(device)
    for command in ("validate", "build", "check"):
        result = cli(command, "--project", project)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            "specs/0001_a.yaml:1:1: SC117 cannot read file: it is a character device, not a regular file "
            "(hint: replace it with a regular file)"
        ]
    assert not (project / "migrations").exists()


def test_a_spec_that_is_a_fifo_is_refused_instead_of_hanging(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    os.mkfifo(project / "specs" / "0001_a.yaml")
    result = cli("build", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "specs/0001_a.yaml:1:1: SC117 cannot read file: it is a FIFO, not a regular file "
        "(hint: replace it with a regular file)"
    ]


@pytest.mark.parametrize("name", ["manifest.json", "0001_a.sql"])
@pytest.mark.parametrize("plant", ["device", "fifo"])
def test_a_published_file_that_is_a_device_or_fifo_is_refused(tmp_path: Path, name: str, plant: str) -> None:
    project = built(tmp_path / "p")
    target = project / "migrations" / name
    target.unlink()
    if plant == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    kind = "a FIFO" if plant == "fifo" else "a character device"
    expected = (
        f"migrations/{name}:1:1: SC117 cannot read file: it is {kind}, not a regular file "
        "(hint: replace it with a regular file)"
    )
    for command in ("check", "build"):
        result = cli(command, "--project", project)
        assert result.returncode == 2, result.stdout + result.stderr
        assert expected in result.stderr.splitlines()
    result = cli("apply", "--db", tmp_path / "app.db", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [expected]
    assert not (tmp_path / "app.db").exists() or schemac_tables(tmp_path / "app.db") == []


def schemac_tables(database: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(database) as connection:
        return [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'schemac_%'")]


def test_a_file_that_reports_no_size_is_still_read_only_up_to_the_limit(tmp_path: Path) -> None:
    """``/proc`` files report a size of 0; the read stops at the limit whatever the size says."""
    from schemac.project.inputs import read_bytes

    with pytest.raises(schemac.SchemacError) as caught:
        read_bytes(Path("/proc/self/maps"), "maps", limit=16)
    assert [str(d) for d in caught.value.diagnostics] == ["maps:1:1: SC101 file is larger, over the limit of 16 bytes"]


# --- item 4: nothing outside the project is read --------------------------------------------------


def test_check_never_prints_a_file_outside_the_project(tmp_path: Path) -> None:
    project = built(tmp_path / "p")
    migration = project / "migrations" / "0001_a.sql"
    migration.unlink()
    migration.symlink_to("/proc/self/environ")
    result = cli("check", "--project", project, env={"CI_SECRET": SECRET})
    assert result.returncode == 2
    assert SECRET not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        "migrations/0001_a.sql:1:1: SC118 path leads outside the project (a symlink to a file elsewhere); it is not "
        "read (hint: keep every spec, migration, manifest, template and setting inside the project directory)"
    ]


@pytest.mark.parametrize(
    ("where", "shown"),
    [
        ("specs/0001_a.yaml", "specs/0001_a.yaml"),
        ("migrations/manifest.json", "migrations/manifest.json"),
        ("schemac.toml", "schemac.toml"),
    ],
)
def test_a_symlink_out_of_the_project_is_refused(tmp_path: Path, where: str, shown: str) -> None:
    project = built(tmp_path / "p")
    planted = project / where
    planted.unlink(missing_ok=True)
    planted.symlink_to(outside_file(tmp_path))
    for command in ("check", "build") if where.startswith("migrations/") else ("validate", "check", "build"):
        result = cli(command, "--project", project)
        assert result.returncode == 2, (command, result.stderr)
        assert SECRET not in result.stdout + result.stderr
        assert f"{shown}:1:1: SC118 path leads outside the project" in result.stderr, (command, result.stderr)


def test_a_symlink_inside_the_project_is_followed(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "shared").mkdir()
    (project / "shared" / "a.yaml").write_text(SPEC, encoding="utf-8")
    (project / "specs" / "0001_a.yaml").symlink_to("../shared/a.yaml")
    assert cli("build", "--project", project).returncode == 0
    assert cli("check", "--project", project).returncode == 0


def test_the_loader_reads_nothing_outside_the_migrations_directory(tmp_path: Path) -> None:
    project = built(tmp_path / "p")
    migration = project / "migrations" / "0001_a.sql"
    migration.unlink()
    migration.symlink_to(outside_file(tmp_path))
    assert findings(lambda: schemac.load_migrations(project / "migrations")) == [
        f"{(project / 'migrations').as_posix()}/0001_a.sql:1:1: SC118 path leads outside the project (a symlink to a "
        "file elsewhere); it is not read (hint: keep every spec, migration, manifest, template and setting inside "
        "the project directory)"
    ]


@pytest.mark.parametrize("key", ["specs", "migrations", "templates"])
@pytest.mark.parametrize("value", ["../elsewhere", "/tmp"])
def test_a_path_setting_outside_the_project_is_refused(tmp_path: Path, key: str, value: str) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (project / "schemac.toml").write_text(f'dialects = ["sqlite"]\n{key} = "{value}"\n', encoding="utf-8")
    result = cli("build", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"schemac.toml:2:1: SC705 {key} must be a path inside the project, not '{value}' (hint: use a path relative "
        "to the project directory, without '..' or a symlink leading out of it)"
    ]
    assert not (project / "migrations").exists() and list((tmp_path / "elsewhere").iterdir()) == []


def test_a_path_setting_through_a_symlink_out_of_the_project_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (project / "out").symlink_to(tmp_path / "elsewhere")
    (project / "schemac.toml").write_text('migrations = "out/migrations"\n', encoding="utf-8")
    result = cli("build", "--project", project)
    assert result.returncode == 2
    assert result.stderr.startswith("schemac.toml:1:1: SC705 migrations must be a path inside the project")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_docs_setting_outside_the_project_is_refused(tmp_path: Path) -> None:
    project = built(tmp_path / "p", settings='docs = "../schema.md"\n')
    result = cli("docs", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "schemac.toml:1:1: SC705 docs must be a path inside the project, not '../schema.md' (hint: use a path "
        "relative to the project directory, without '..' or a symlink leading out of it)"
    ]
    assert not (tmp_path / "schema.md").exists()


def test_docs_never_writes_through_a_symlinked_directory(tmp_path: Path) -> None:
    project = built(tmp_path / "p")
    (tmp_path / "elsewhere").mkdir()
    (project / "docs").symlink_to(tmp_path / "elsewhere")
    result = cli("docs", "--project", project)
    assert result.returncode == 2
    assert result.stderr.startswith("docs/schema.md:1:1: SC118 path leads outside the project")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_docs_check_refuses_a_device_instead_of_reading_it(tmp_path: Path) -> None:
    project = built(tmp_path / "p")
    (project / "docs").mkdir()
    (project / "docs" / "schema.md").symlink_to("/dev/zero")
    result = cli("docs", "--check", "--project", project)
    assert result.returncode == 2
    assert result.stderr.startswith("docs/schema.md:1:1: SC117 cannot read file: it is a character device")


# --- item 4: nothing is written through a planted symlink -----------------------------------------


def snapshot_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_the_build_cache_never_appends_to_a_planted_pack_symlink(tmp_path: Path) -> None:
    """A valid cache from an earlier run, whose pack a pull request replaced by a symlink: the next
    build would append the new tables to whatever the symlink names."""
    project = built(tmp_path / "p")
    victim = outside_file(tmp_path)
    pack = project / ".schemac-cache" / "records.pack"
    pack.unlink()
    pack.symlink_to(victim)
    (project / "specs" / "0002_b.yaml").write_text(SPEC.replace("  t:", "  u:"), encoding="utf-8")
    assert cli("build", "--project", project).returncode == 0
    assert victim.read_text(encoding="utf-8") == f"TOKEN={SECRET}\n"
    assert cli("check", "--project", project).returncode == 0


def test_the_build_cache_never_creates_a_file_through_a_dangling_symlink(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    victim = tmp_path / "elsewhere" / "created-by-schemac"
    victim.parent.mkdir()
    (project / ".schemac-cache").mkdir()
    (project / ".schemac-cache" / ".gitignore").symlink_to(victim)
    assert cli("build", "--project", project).returncode == 0
    assert not victim.exists()


def test_the_build_cache_never_reads_a_device(tmp_path: Path) -> None:
    project = built(tmp_path / "p")
    snapshot = project / ".schemac-cache" / "compile.pickle"
    snapshot.unlink()
    snapshot.symlink_to("/dev/zero")
    assert cli("check", "--project", project).returncode == 0
    assert cli("build", "--project", project).returncode == 0


def test_the_build_cache_never_writes_into_a_symlinked_cache_directory(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (project / ".schemac-cache").symlink_to(tmp_path / "elsewhere")
    assert cli("build", "--project", project).returncode == 0
    assert cli("check", "--project", project).returncode == 0
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_symlinked_dialect_directory_is_never_written_through(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    (project / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n', encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    (project / "migrations").mkdir()
    (project / "migrations" / "sqlite").symlink_to(tmp_path / "elsewhere")
    result = cli("build", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "migrations/sqlite/0001_a.sql:1:1: SC118 'sqlite' is a symlink, which may lead outside the project; nothing "
        "is written (hint: replace the symlink with a real directory)"
    ]
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert sorted(p.name for p in (project / "migrations").iterdir()) == ["sqlite"]


@pytest.mark.parametrize("stage", [".migrations.schemac-ready", ".migrations.schemac-new", ".migrations.schemac-old"])
def test_a_planted_stage_symlink_is_removed_not_followed(tmp_path: Path, stage: str) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ".schemac-stage").write_bytes(b"")  # looks like a complete stage
    (elsewhere / "keep.txt").write_text("mine\n", encoding="utf-8")
    (project / stage).symlink_to(elsewhere)
    assert cli("build", "--project", project).returncode == 0
    assert snapshot_of(elsewhere) == {".schemac-stage": b"", "keep.txt": b"mine\n"}
    assert (project / "migrations").is_dir() and not (project / "migrations").is_symlink()
    assert not os.path.lexists(project / stage)
    assert cli("check", "--project", project).returncode == 0


# --- item 5: no path with a control character reaches a generated file ----------------------------


def test_a_specs_directory_with_a_newline_never_reaches_the_sql(tmp_path: Path) -> None:
    name = "specs\nDROP TABLE victim;\n--"
    project = tmp_path / "p"
    (project / name).mkdir(parents=True)
    (project / name / "0001_a.yaml").write_text(SPEC, encoding="utf-8")
    (project / "schemac.toml").write_text(f"specs = {json.dumps(name)}\n", encoding="utf-8")
    result = cli("build", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "schemac.toml:1:1: SC702 specs must be a path without control characters, not 'specs\\nDROP TABLE victim;\\n--'"
    ]
    assert not (project / "migrations").exists()


# --- low: versions every engine and loader can hold ----------------------------------------------


def test_a_version_beyond_what_engines_hold_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / f"{10**26}_a.yaml").write_text(SPEC, encoding="utf-8")
    result = cli("build", "--project", project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"specs/{10**26}_a.yaml:1:1: SC119 version {10**26} is larger than 9007199254740991, the largest every "
        "engine and loader holds (hint: number versions like 0001 or 2026112401)"
    ]


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("file", "../specs/0001_a.yaml", "'../specs/0001_a.yaml' with version 1"),
        ("version", 10**26, f"'0001_a.sql' with version {10**26}"),
    ],
)
def test_a_manifest_entry_naming_another_path_or_version_is_refused(
    tmp_path: Path, key: str, value: object, line: str
) -> None:
    project = built(tmp_path / "p")
    path = project / "migrations" / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["files"][0][key] = value
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    result = cli("check", "--project", project)
    assert result.returncode == 1  # an edited manifest is drift for check, as an edited file is
    at = (
        path.read_text(encoding="utf-8").splitlines().index(f'      "file": {json.dumps(data["files"][0]["file"])},')
        + 1
    )
    assert result.stderr.splitlines() == [
        f"migrations/manifest.json:{at}:1: SC505 manifest files[0] names file {line}: a file is <version>_<slug>.sql "
        "in this directory, its version at most 9007199254740991 (hint: restore manifest.json from version control: "
        "it records what was published)"
    ]
