"""Bad-input corpus: ``tests/bad_inputs/<case>/`` is a project plus the exact diagnostics it must give.

A case directory holds project files (``specs/``, ``schemac.toml``, …) copied byte for byte,
``expected.txt`` (the exact stderr of the command), and optionally ``case.toml``:

    command = "build"        # the CLI verb to run: build (default), check or validate
    exit = 2                 # the expected exit code (2 bad input, 1 drift)
    prebuild = true          # build the project first, then tamper with it as below
    replace = [["migrations/0001_x.sql", "old text", "new text"]]
    remove = ["migrations/0001_x.sql"]
    hash_mutation = "migrations/0001_x.sql"   # record a wrong SHA-256 for it in the manifest
    rechain = true           # ...and recompute the manifest chain so only the hash is wrong
    [write]
    "migrations/0002_extra.sql" = "file text"

Refresh every ``expected.txt`` from the current CLI (then review the diff) with::

    python tests/bad_input_cases.py
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
_CASE_FILES = ("case.toml", "expected.txt")


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    before: dict[str, str]
    after: dict[str, str]


def cases() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_dir())


def settings_of(case: Path) -> dict[str, Any]:
    path = case / "case.toml"
    return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def tree_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` and beside it (stages), by relative path."""
    found = {}
    for path in sorted(directory.parent.rglob("*")):
        inside = path.is_relative_to(directory) or path.name.startswith(f".{directory.name}.")
        if inside and path.is_file():
            found[path.relative_to(directory.parent).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _tamper(project: Path, settings: dict[str, Any]) -> None:
    for rel, old, new in settings.get("replace", []):
        path = project / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{rel} does not contain {old!r}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    for rel in settings.get("remove", []):
        (project / rel).unlink()
    for rel, text in settings.get("write", {}).items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text, encoding="utf-8")
    if "hash_mutation" in settings:
        target = Path(settings["hash_mutation"])
        manifest_path = project / target.parent / "manifest.json"
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        for entry in manifest["files"]:
            if entry["file"] == target.name:
                entry["sha256"] = hashlib.sha256(b"tampered").hexdigest()
        if settings.get("rechain"):
            lines = "".join(f"{e['sha256']}  {e['file']}\n" for e in manifest["files"])
            manifest["chain"] = hashlib.sha256(lines.encode("utf-8")).hexdigest()
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def prepare(case: Path, workdir: Path) -> Path:
    """The case's project in ``workdir``, built and tampered with when the case asks for it."""
    project = workdir / "project"
    shutil.copytree(case, project, ignore=shutil.ignore_patterns(*_CASE_FILES))
    settings = settings_of(case)
    if settings.get("prebuild"):
        outcome = subprocess.run(
            [sys.executable, "-m", "schemac", "build", "--project", str(project)], capture_output=True, text=True
        )
        assert outcome.returncode == 0, outcome.stderr
        _tamper(project, settings)
    return project


def run_case(case: Path, workdir: Path) -> Outcome:
    """Run the case's command in a subprocess, hashing migrations/ before and after."""
    project = prepare(case, workdir)
    command = settings_of(case).get("command", "build")
    before = tree_hashes(project / "migrations")
    outcome = subprocess.run(
        [sys.executable, "-m", "schemac", command, "--project", "project"],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=300,
    )
    return Outcome(outcome.returncode, outcome.stdout, outcome.stderr, before, tree_hashes(project / "migrations"))


def refresh() -> None:
    for case in cases():
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_case(case, Path(tmp))
        (case / "expected.txt").write_text(outcome.stderr, encoding="utf-8")
        print(f"{case.name}: exit {outcome.exit_code}: {outcome.stderr.strip()[:150]}")


if __name__ == "__main__":
    refresh()
