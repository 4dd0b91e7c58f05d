"""A build's worker processes never hold the project lock and die with the build that forked them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import schemac
from conftest import run_cli

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or ``None`` when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    listed = list(Path(f"/proc/{pid}/task").glob("*/children"))
    if listed:
        return {int(child) for path in listed for child in path.read_text(encoding="utf-8").split()}
    found = set()
    for entry in os.listdir("/proc"):
        fields = _stat(int(entry)) if entry.isdigit() else None
        if fields is not None and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def _identity(pid: int) -> tuple[int, str] | None:
    """``pid`` with its start time, so that a reused process number is not taken for the same process."""
    fields = _stat(pid)
    return None if fields is None else (pid, fields[19])


def _alive(identity: tuple[int, str]) -> bool:
    fields = _stat(identity[0])
    return fields is not None and fields[19] == identity[1] and fields[0] not in ("Z", "X")


def _forked_workers(build: subprocess.Popen[bytes]) -> set[tuple[int, str]]:
    """The build's worker processes (children running the same command line), once there are two."""
    command = Path(f"/proc/{build.pid}/cmdline").read_bytes()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert build.poll() is None, "the build ended before its workers were seen"
        workers = set()
        for child in _children(build.pid):
            try:
                same = Path(f"/proc/{child}/cmdline").read_bytes() == command
            except OSError:
                continue
            identity = _identity(child)
            if same and identity is not None:
                workers.add(identity)
        if len(workers) >= 2:
            return workers
        time.sleep(0.002)
    raise AssertionError("no workers appeared")


def _spec(number: int) -> str:
    return (
        f"description: Table {number}.\ntables:\n  t{number}:\n    columns:\n"
        "      id: {type: integer, primary_key: true}\n"
        '      n: {type: integer, check: "n >= 0"}\n'
    )


def test_a_sigkilled_build_leaves_no_worker_and_the_next_build_gets_the_lock(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    for number in range(1, 401):
        (project / "specs" / f"{number:04d}_t{number}.yaml").write_text(_spec(number), encoding="utf-8")
    first = subprocess.Popen(
        [sys.executable, "-m", "schemac", "build", "--no-cache"],
        cwd=project,
        env={**os.environ, "SCHEMAC_WORKERS": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[tuple[int, str]] = set()
    try:
        workers = _forked_workers(first)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=300) == -signal.SIGKILL
        second = run_cli("build", cwd=project)
        assert (second.returncode, second.stderr) == (0, "")
        assert second.stdout.endswith("401 written, 0 unchanged\n")
        assert schemac.check(project).ok
        deadline = time.monotonic() + 300  # generous: they end as soon as the build is killed
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [w for w in workers if _alive(w)] == [], "a worker of the killed build is still running"
    finally:
        for pid, _ in (w for w in workers if _alive(w)):  # only after a failure: do not leave them behind
            os.kill(pid, signal.SIGKILL)
        if first.poll() is None:
            first.kill()
