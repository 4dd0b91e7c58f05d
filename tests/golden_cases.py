"""Golden cases: ``tests/golden/<case>/{specs,expected}``, optional ``schemac.toml`` and ``templates/``.

Refresh every ``expected/`` directory from the current compiler with::

    python tests/golden_cases.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent / "golden"
_PROJECT_PARTS = ("specs", "schemac.toml", "templates")


def cases() -> list[Path]:
    return sorted(p for p in GOLDEN.iterdir() if (p / "specs").is_dir())


def copy_case(case: Path, workdir: Path) -> Path:
    """A project directory in ``workdir`` holding the case's specs, settings and templates."""
    project = workdir / case.name
    project.mkdir(parents=True)
    for part in _PROJECT_PARTS:
        source = case / part
        if source.is_dir():
            shutil.copytree(source, project / part)
        elif source.is_file():
            shutil.copy(source, project / part)
    return project


def build_case(case: Path, workdir: Path) -> dict[str, bytes]:
    """Build a golden case in ``workdir``; returns every output file by path relative to migrations/."""
    import schemac

    project = copy_case(case, workdir)
    schemac.build(project)
    out = project / "migrations"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def expected_files(case: Path) -> dict[str, bytes]:
    root = case / "expected"
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def refresh() -> None:
    for case in cases():
        with tempfile.TemporaryDirectory() as tmp:
            files = build_case(case, Path(tmp))
        expected = case / "expected"
        shutil.rmtree(expected, ignore_errors=True)
        for name, data in files.items():
            (expected / name).parent.mkdir(parents=True, exist_ok=True)
            (expected / name).write_bytes(data)
        print(f"refreshed {case.relative_to(GOLDEN.parent.parent)}: {len(files)} files")


if __name__ == "__main__":
    sys.path.insert(0, str(GOLDEN.parent.parent / "src"))
    refresh()
