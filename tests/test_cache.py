"""The build cache only saves work: with it, every output is byte-identical to a build without it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from benchmarks.generate import add_spec, spec_text, write_project

import schemac
from schemac.project import workers as worker_pool
from schemac.project.cache import CACHE_DIR


def outputs(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "migrations").iterdir())}


def uncached_copy(project: Path, tmp_path: Path) -> dict[str, bytes]:
    """What a build without any cache makes of the same specs."""
    fresh = tmp_path / "uncached"
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(project / "specs", fresh / "specs")
    shutil.copy(project / "schemac.toml", fresh / "schemac.toml")
    schemac.build(fresh, cache=False)
    assert not (fresh / CACHE_DIR).exists()
    return outputs(fresh)


@pytest.fixture
def built(tmp_path: Path) -> Path:
    project = write_project(tmp_path / "project", 30)
    schemac.build(project)
    return project


def test_cache_is_ignored_by_git_and_holds_one_snapshot_and_one_pack(built: Path) -> None:
    assert (built / CACHE_DIR / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert sorted(p.name for p in (built / CACHE_DIR).iterdir()) == [".gitignore", "compile.pickle", "records.pack"]


def test_adding_a_spec_builds_only_it_and_matches_an_uncached_build(built: Path, tmp_path: Path) -> None:
    add_spec(built, 4)
    stages: set[tuple[int, str]] = set()
    result = schemac.build(built, progress=lambda done, total, stage: stages.add((total, stage)))
    assert result.written == ("migrations/00004_synthetic_4.sql", "migrations/manifest.json")
    # resumed from the cache: the newest cached spec is read and planned again, only the new one rendered
    assert stages == {(2, "reading specs"), (1, "rendering sqlite")}
    assert outputs(built) == uncached_copy(built, tmp_path)


def test_amending_the_newest_spec_matches_an_uncached_build(built: Path, tmp_path: Path) -> None:
    newest = built / "specs" / "00003_synthetic_3.yaml"
    newest.write_text(spec_text(3).replace("Synthetic version 3", "Amended version 3"), encoding="utf-8")
    result = schemac.build(built, amend=True)
    assert "migrations/00003_synthetic_3.sql" in result.written
    assert "-- Amended version 3 with 10 tables." in (built / "migrations" / "00003_synthetic_3.sql").read_text()
    assert outputs(built) == uncached_copy(built, tmp_path)


def test_check_with_a_warm_cache_still_catches_an_edited_migration(built: Path) -> None:
    assert schemac.check(built).ok
    path = built / "migrations" / "00002_synthetic_2.sql"
    path.write_text(path.read_text(encoding="utf-8").replace("TEXT NOT NULL", "TEXT", 1), encoding="utf-8")
    report = schemac.check(built)
    assert [(d.kind, d.diagnostic.code, d.diagnostic.file) for d in report.drift] == [
        ("edited", "SC501", "migrations/00002_synthetic_2.sql")
    ]


def test_check_with_a_warm_cache_still_catches_an_edited_published_spec(built: Path) -> None:
    spec = built / "specs" / "00001_synthetic_1.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("code: {type: string(40)", "code: {type: text"), "utf-8")
    cached = schemac.check(built).drift
    assert ("edited", "specs/00001_synthetic_1.yaml") in {(d.kind, d.diagnostic.file) for d in cached}
    assert [d.diagnostic for d in cached] == [d.diagnostic for d in schemac.check(built, cache=False).drift]


def test_a_damaged_cache_costs_a_full_compile_not_a_wrong_output(built: Path, tmp_path: Path) -> None:
    (built / CACHE_DIR / "compile.pickle").write_bytes(b"not a pickle")
    add_spec(built, 4)
    schemac.build(built)
    assert outputs(built) == uncached_copy(built, tmp_path)


def test_a_new_template_override_is_not_hidden_by_the_cache(built: Path) -> None:
    overrides = built / "templates" / "sqlite"
    overrides.mkdir(parents=True)
    packaged = Path(schemac.__file__).parent / "templates" / "_common" / "create_index.sql.j2"
    (overrides / "create_index.sql.j2").write_text(packaged.read_text().replace("IF NOT EXISTS ", ""), "utf-8")
    report = schemac.check(built)
    assert {d.diagnostic.file for d in report.drift} >= {"migrations/00001_synthetic_1.sql"}


def test_no_cache_on_the_command_line_writes_no_cache(tmp_path: Path, cli: Callable[..., object]) -> None:
    project = write_project(tmp_path / "project", 10)
    outcome = cli("build", "--project", project, "--no-cache", "--quiet")
    assert outcome.returncode == 0, outcome.stderr
    assert not (project / CACHE_DIR).exists()
    outcome = cli("check", "--project", project, "--no-cache")
    assert outcome.returncode == 0
    assert not (project / CACHE_DIR).exists()


def test_workers_on_every_core_give_the_bytes_of_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = write_project(tmp_path / "project", 70, per_spec=1)  # 70 specs: enough to start workers
    calls: list[tuple[int, int, str]] = []
    monkeypatch.setenv("SCHEMAC_WORKERS", "2")
    schemac.build(project, cache=False, progress=lambda done, total, stage: calls.append((done, total, stage)))
    assert calls == [(n, 70, "reading specs") for n in range(1, 71)] + [
        (n, 70, "rendering sqlite") for n in range(1, 71)
    ]
    parallel = outputs(project)
    shutil.rmtree(project / "migrations")
    monkeypatch.setenv("SCHEMAC_WORKERS", "1")
    schemac.build(project, cache=False)
    assert outputs(project) == parallel


class _Plant:
    """A pickle that, when loaded, creates a file: what a hostile committed cache would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_a_cache_written_by_someone_else_is_never_unpickled(built: Path, tmp_path: Path) -> None:
    import pickle

    snapshot = built / CACHE_DIR / "compile.pickle"
    marker = tmp_path / "planted"
    payload = pickle.dumps(_Plant(marker))
    for forged in (payload, b"\0" * 32 + payload, snapshot.read_bytes()[:32] + payload):
        snapshot.write_bytes(forged)
        assert schemac.check(built).ok
        assert not marker.exists()


def test_the_cache_is_signed_with_a_private_key_outside_the_project(built: Path) -> None:
    import hashlib
    import hmac
    import os

    key_file = Path(os.environ["XDG_CACHE_HOME"]) / "schemac" / "cache.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    data = (built / CACHE_DIR / "compile.pickle").read_bytes()
    assert hmac.compare_digest(data[:32], hmac.new(key_file.read_bytes(), data[32:], hashlib.sha256).digest())


def test_a_pack_record_that_changed_is_never_unpickled(built: Path, tmp_path: Path) -> None:
    import pickle

    pack = built / CACHE_DIR / "records.pack"
    marker = tmp_path / "planted"
    planted = pickle.dumps(_Plant(marker))
    pack.write_bytes(planted * (pack.stat().st_size // len(planted) + 1))
    add_spec(built, 4)
    assert schemac.build(built).written == ("migrations/00004_synthetic_4.sql", "migrations/manifest.json")
    assert not marker.exists()
    assert outputs(built) == uncached_copy(built, tmp_path)
    assert schemac.check(built).ok


def test_a_missing_pack_costs_a_full_compile(built: Path, tmp_path: Path) -> None:
    (built / CACHE_DIR / "records.pack").unlink()
    add_spec(built, 4)
    schemac.build(built)
    assert outputs(built) == uncached_copy(built, tmp_path)
    assert schemac.check(built).ok


def test_the_pack_is_rewritten_once_dead_records_outweigh_live_ones(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schemac.project import cache

    monkeypatch.setattr(cache, "_COMPACT_ABOVE", 0)
    pack = built / CACHE_DIR / "records.pack"
    live = pack.stat().st_size
    newest = built / "specs" / "00003_synthetic_3.yaml"
    sizes = []
    for attempt in range(6):
        newest.write_text(spec_text(3).replace("Synthetic version 3", f"Amended {attempt}"), encoding="utf-8")
        schemac.build(built, amend=True)
        sizes.append(pack.stat().st_size)
    assert max(sizes) <= 2 * live + 2 * (live // 3)  # never much more than twice what is live
    assert min(sizes) < max(sizes)  # it was rewritten on the way
    assert outputs(built) == uncached_copy(built, tmp_path)
    add_spec(built, 4)
    stages: set[tuple[int, str]] = set()
    schemac.build(built, progress=lambda done, total, stage: stages.add((total, stage)))
    assert stages == {(2, "reading specs"), (1, "rendering sqlite")}
    assert outputs(built) == uncached_copy(built, tmp_path)


def test_files_reused_from_the_pack_are_generated_again_when_it_changes_under_a_build(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schemac.project import cache
    from schemac.project.compiler import compile_outputs
    from schemac.project.settings import load_settings

    (output,) = compile_outputs(load_settings(built))

    def changed(pack: cache.Pack, where: cache.Stored) -> bytes:
        raise cache.StaleCache("rewritten by another process")

    monkeypatch.setattr(cache.Pack, "read", changed)
    assert {name: output.files[name] for name in output.files} == uncached_copy(built, tmp_path)


@pytest.mark.parametrize("workers", [1, 2])
def test_tables_changed_by_planning_are_cached_as_changed(
    make_project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Tables pickled in the worker that read them are stored only while planning left them as read: a
    table renamed, or whose foreign key follows a renamed parent, is stored in its planned form."""
    monkeypatch.setattr(worker_pool, "_PARALLEL_FROM", 1)  # workers even for these few specs
    monkeypatch.setenv("SCHEMAC_WORKERS", str(workers))
    base = (
        "description: Base.\ntables:\n"
        "  parent:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
        "  child:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
        "      parent_id: {type: integer, references: parent.id}\n"
    )
    renamed = (
        "description: Rename.\ntables:\n"
        "  mother:\n    renamed_from: parent\n    audit: none\n"
        "    columns:\n      id: {type: integer, primary_key: true}\n"
    )
    extra = (
        "description: Extra.\ntables:\n"
        "  other:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
    )
    project = make_project({"0001_base.yaml": base, "0002_rename.yaml": renamed, "0003_extra.yaml": extra})
    schemac.build(project)
    (project / "specs" / "0004_note.yaml").write_text(
        "description: Note.\ntables:\n"
        "  child:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
        "      parent_id: {type: integer, references: mother.id}\n      note: {type: text, nullable: true}\n",
        encoding="utf-8",
    )
    stages: set[tuple[int, str]] = set()
    schemac.build(project, progress=lambda done, total, stage: stages.add((total, stage)))
    assert stages == {(2, "reading specs"), (1, "rendering sqlite")}  # resumed from the cache
    fresh = tmp_path / "uncached"
    shutil.copytree(project / "specs", fresh / "specs")
    schemac.build(fresh, cache=False)
    assert outputs(project) == outputs(fresh)
    lines = (project / "migrations" / "0004_note.sql").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line and not line.startswith("--")] == [
        'ALTER TABLE "child" ADD COLUMN "note" TEXT;'
    ]


def test_the_cache_key_covers_every_file_of_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A change to any module, template or schema of schemac (not only the cache's own subpackage) gives
    another key, so no cached result outlives the code that made it."""
    from schemac.project import cache

    package = Path(schemac.__file__).resolve().parent
    copy = tmp_path / "schemac"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "__file__", str(copy / "project" / "cache.py"))
    digest = cache._tool_digest.__wrapped__  # computed once per process otherwise
    keys = {digest()}
    for name in ("planner/differ.py", "templates/_common/migration.sql.j2", "schema/spec.schema.json", "model.py"):
        path = copy / name
        path.write_bytes(path.read_bytes() + b"\n")
        keys.add(digest())
    assert len(keys) == 5
