"""An interrupted or concurrent build leaves the old complete set or the new one, never a mix."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import schemac
from schemac import dialects
from schemac.errors import SchemacError
from schemac.project import files

HELPER = Path(__file__).resolve().parent / "audit_build.py"


def table_spec(number: int) -> str:
    return (
        f"description: Table {number}.\ntables:\n  t{number}:\n    columns:\n"
        "      id: {type: integer, primary_key: true}\n"
        "      name: {type: text, default: x}\n"
        '      n: {type: integer, check: "n >= 0"}\n'
        "    indexes:\n      - columns: [name]\n"
    )


def add_specs(project: Path, numbers: range) -> None:
    (project / "specs").mkdir(parents=True, exist_ok=True)
    for number in numbers:
        (project / "specs" / f"{number:04d}_t{number}.yaml").write_text(table_spec(number), encoding="utf-8")


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file under migrations/ and every leftover beside it, by path relative to the project."""
    found = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project).as_posix()
        if path.is_file() and (rel.startswith("migrations/") or rel.startswith(".migrations.")):
            found[rel] = path.read_bytes()
        elif path.is_dir() and rel.startswith(".migrations."):
            found[rel + "/"] = b""
    return found


def loader_view(project: Path) -> dict[str, str]:
    """What the first user's loader reads: every ``*.sql`` checked against the manifest, or what is wrong."""
    try:
        return {m.file: m.checksum for m in schemac.load_migrations(project / "migrations")}
    except SchemacError as exc:
        return {"error": str(exc)}


@pytest.fixture
def old_and_new(tmp_path: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The complete migration sets of versions 1 to 3 and of versions 1 to 5, built without interruption."""
    reference = tmp_path / "reference"
    add_specs(reference, range(1, 4))
    schemac.build(reference)
    old = snapshot(reference)
    add_specs(reference, range(4, 6))
    schemac.build(reference)
    return old, snapshot(reference)


class Crash(Exception):
    """Stands for the process dying at this point."""


class CrashAt:
    """Wraps the file operations ``files.publish`` uses; the ``at``-th call raises :class:`Crash` instead."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.calls = 0
        self._counting = threading.Lock()  # publishing writes and fsyncs from several threads

    def wrap(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            with self._counting:
                self.calls += 1
                call = self.calls
            if call == self.at:
                raise Crash(f"crash before {func.__name__} #{call}")
            return func(*args, **kwargs)

        return step

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        wrapped_os = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
        for name in ("link", "rename", "fsync", "open"):
            setattr(wrapped_os, name, self.wrap(getattr(os, name)))
        wrapped_shutil = SimpleNamespace(rmtree=self.wrap(shutil.rmtree), copytree=self.wrap(shutil.copytree))
        monkeypatch.setattr(files, "os", wrapped_os)
        monkeypatch.setattr(files, "shutil", wrapped_shutil)
        monkeypatch.setattr(files, "open", self.wrap(open), raising=False)
        monkeypatch.setattr(files, "_swap", self.wrap(files._swap))


def _steps_of_a_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    project = tmp_path / "counting"
    add_specs(project, range(1, 4))
    schemac.build(project)
    add_specs(project, range(4, 6))
    counter = CrashAt(None)
    with monkeypatch.context() as patch:
        counter.install(patch)
        schemac.build(project)
    return counter.calls


@pytest.fixture(params=["renameat2", "two-renames"])
def swap_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run with the kernel's atomic exchange, and with the fallback for kernels without it."""
    if request.param == "two-renames":
        monkeypatch.setattr(files, "_renameat2", lambda: None)
    elif files._renameat2() is None:
        pytest.skip("this C library has no renameat2")
    yield request.param


def test_a_build_that_crashes_at_any_step_leaves_the_old_or_the_new_set(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    swap_mode: str,
    old_and_new: tuple[dict[str, bytes], dict[str, bytes]],
) -> None:
    old, new = old_and_new
    steps = _steps_of_a_build(tmp_path, monkeypatch)
    assert steps > 10
    outcomes = set()
    for at in range(1, steps + 1):
        project = tmp_path / f"crash_{at}"
        add_specs(project, range(1, 4))
        schemac.build(project)
        add_specs(project, range(4, 6))
        with monkeypatch.context() as patch:
            CrashAt(at).install(patch)
            with pytest.raises(Crash):
                schemac.build(project)
        seen = loader_view(project)
        if swap_mode == "renameat2":  # the exchange is one step: a reader never finds the directory missing
            assert seen in (loader_view_of(old, tmp_path / "o"), loader_view_of(new, tmp_path / "n")), at
        files.recover(project / "migrations")
        after = snapshot(project)
        assert after in (old, new), f"crash at step {at} left a mix"
        outcomes.add("new" if after == new else "old")
        schemac.build(project)
        assert snapshot(project) == new
        assert schemac.check(project).ok
    assert outcomes == {"old", "new"}


def sql_names(files_by_path: dict[str, bytes]) -> set[str]:
    return {Path(rel).name for rel in files_by_path if rel.endswith(".sql")}


def loader_view_of(files_by_path: dict[str, bytes], where: Path) -> dict[str, str]:
    if not where.exists():
        for rel, data in files_by_path.items():
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            (where / rel).write_bytes(data)
    return loader_view(where)


def _start(project: Path, event: str, match: str, number: int, action: str, log: Path | None = None) -> Any:
    args = [sys.executable, str(HELPER), str(project), event, match, str(number), action]
    return subprocess.Popen([*args, *([str(log)] if log else [])], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(path: Path, process: subprocess.Popen[bytes]) -> None:
    while not path.exists():
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("event", "match", "number"),
    [
        ("open", ".schemac-new", 1),  # first new file of the stage
        ("open", ".schemac-new", 20),  # halfway through the new files
        ("open", ".schemac-new", 42),  # the marker: every file written, stage not complete
        ("os.rename", ".schemac-new", 1),  # stage complete, not yet marked ready
        ("shutil.rmtree", ".schemac-ready", 1),  # swapped in, the old set not yet removed
        ("os.remove", "/migrations/.schemac-stage", 1),  # swapped in, the marker not yet removed
    ],
)
def test_a_sigkilled_build_of_a_large_project_leaves_the_old_or_the_new_set(
    tmp_path: Path, event: str, match: str, number: int
) -> None:
    reference = tmp_path / "reference"
    add_specs(reference, range(1, 121))
    schemac.build(reference)
    old = snapshot(reference)
    add_specs(reference, range(121, 161))
    schemac.build(reference)
    new = snapshot(reference)
    project = tmp_path / "project"
    add_specs(project, range(1, 121))
    schemac.build(project)
    add_specs(project, range(121, 161))
    process = _start(project, event, match, number, "kill")
    process.communicate(timeout=300)
    assert process.returncode == -9, "the build must have been killed at the chosen step"
    assert set(loader_view(project)) in (sql_names(old), sql_names(new))
    files.recover(project / "migrations")
    assert snapshot(project) in (old, new)
    schemac.build(project)
    assert snapshot(project) == new
    assert schemac.check(project).ok


def test_concurrent_builds_do_not_interleave_and_a_dead_holder_leaves_no_lock(tmp_path: Path) -> None:
    project = tmp_path / "project"
    add_specs(project, range(1, 31))
    log = tmp_path / "events.log"
    first = _start(project, "open", ".schemac-new", 1, "pause", log)
    _wait_for(tmp_path / "paused", first)  # holds the lock, half-way through publishing
    second = _start(project, "open", str(project), 1, "none", log)
    while f"{second.pid} open {project}\n" not in log.read_text(encoding="utf-8"):
        assert second.poll() is None, second.communicate()
        time.sleep(0.01)
    with (
        pytest.raises(SchemacError, match="SC801 another schemac process has held the project lock"),
        files.project_lock(project, timeout=0),
    ):
        pass
    (tmp_path / "go").touch()
    assert first.communicate(timeout=300)[0] == b"31 written\n"
    assert second.communicate(timeout=300)[0] == b"0 written\n"
    assert first.returncode == second.returncode == 0
    events = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    order = [pid for pid, _, path in events if path != str(project)]
    first_done = len(order) - order[::-1].index(str(first.pid))
    assert set(order[:first_done]) == {str(first.pid)}
    assert str(second.pid) in order[first_done:]
    assert schemac.check(project).ok

    add_specs(project, range(31, 33))
    (tmp_path / "go").unlink()
    (tmp_path / "paused").unlink()
    holder = _start(project, "open", ".schemac-new", 1, "pause")
    _wait_for(tmp_path / "paused", holder)
    holder.kill()
    holder.communicate(timeout=300)
    fd = os.open(project, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free at once: the kernel dropped the dead holder's lock
    finally:
        os.close(fd)
    assert (project / ".migrations.schemac-new").is_dir()  # the dead build's unfinished stage
    result = schemac.build(project)
    assert len(result.written) == 3
    assert not (project / ".migrations.schemac-new").exists()
    assert schemac.check(project).ok


def test_a_crashed_build_never_mixes_the_dialect_directories_of_a_multi_dialect_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(dialects.DIALECTS, "postgresql", dataclasses.replace(dialects.SQLITE, name="postgresql"))

    def project(name: str) -> Path:
        root = tmp_path / name
        (root / "schemac.toml").parent.mkdir(parents=True)
        (root / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n', encoding="utf-8")
        package = Path(schemac.__file__).parent / "templates" / "sqlite"
        shutil.copytree(package, root / "templates" / "postgresql")  # stands in for the real templates
        add_specs(root, range(1, 3))
        schemac.build(root)
        return root

    reference = project("reference")
    old = snapshot(reference)
    add_specs(reference, range(3, 5))
    schemac.build(reference)
    new = snapshot(reference)
    assert {Path(p).parts[1] for p in new} == {"sqlite", "postgresql"}
    at, outcomes = 0, set()
    while True:
        at += 1
        root = project(f"crash_{at}")
        add_specs(root, range(3, 5))
        crash = CrashAt(at)
        with monkeypatch.context() as patch:
            crash.install(patch)
            try:
                schemac.build(root)
            except Crash:
                pass
            else:
                break
        for directory in (root / "migrations" / "sqlite", root / "migrations" / "postgresql", root / "migrations"):
            files.recover(directory)
        after = snapshot(root)
        assert after in (old, new), f"crash at step {at} left a mix"
        outcomes.add("new" if after == new else "old")
    assert outcomes == {"old", "new"}


def test_every_new_file_and_every_directory_is_synced_before_the_stage_is_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "two_dialects"
    add_specs(project, range(1, 4))
    (project / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n', encoding="utf-8")
    schemac.build(project)
    add_specs(project, range(4, 6))
    synced: set[str] = set()
    at_rename: list[tuple[set[str], set[str]]] = []  # (new files, directories) of the stage when it is renamed

    def fsync(fd: int) -> None:
        synced.add(os.readlink(f"/proc/self/fd/{fd}"))  # set.add is atomic: fsyncs run in several threads
        os.fsync(fd)

    def rename(source: Any, target: Any) -> None:
        if str(source).endswith(".schemac-new"):
            new, directories = set(), set()
            for directory, _, names in os.walk(source):
                directories.add(directory)
                new.update(f"{directory}/{n}" for n in names if os.stat(f"{directory}/{n}").st_nlink == 1)
            at_rename.append((new, directories))
        os.rename(source, target)

    wrapped_os = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    wrapped_os.fsync, wrapped_os.rename = fsync, rename
    monkeypatch.setattr(files, "os", wrapped_os)
    schemac.build(project)
    [(new, directories)] = at_rename
    assert {Path(p).name for p in new} == {"0004_t4.sql", "0005_t5.sql", "manifest.json", ".schemac-stage"}, (
        "the two dialects' new files, their manifests and the marker"
    )
    assert len(new) == 7 and len(directories) == 3  # the stage, sqlite/ and postgresql/
    assert new | directories <= synced
