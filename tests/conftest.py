"""Shared fixtures: project scaffolding, the CLI runner, and the first user's loader-contract check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "authoring"
# The shared/ checkout sits beside the repository (or beside the directory holding its worktrees).
CONTRACT_CHECK = next(
    (p for p in (d / "shared" / "tools" / "loader-contract-check" for d in REPO.parents[:2]) if p.exists()),
    REPO.parent / "shared" / "tools" / "loader-contract-check",
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m schemac`` as a user would, capturing both streams."""
    return subprocess.run(
        [sys.executable, "-m", "schemac", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """A project directory holding the given spec files ({name: text}) and optional settings."""

    def make(specs: dict[str, str], settings: str | None = None, name: str = "project") -> Path:
        root = tmp_path / name
        (root / "specs").mkdir(parents=True)
        for file, text in specs.items():
            (root / "specs" / file).write_text(text, encoding="utf-8")
        if settings is not None:
            (root / "schemac.toml").write_text(settings, encoding="utf-8")
        return root

    return make


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A writable copy of the example project."""
    target = tmp_path / "authoring"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".schemac-cache"))  # a clean checkout
    return target


def loader_contract(directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the first user's loader-contract check on a SQLite migrations directory."""
    if not CONTRACT_CHECK.exists():
        if IN_CI:
            pytest.fail(f"loader-contract-check not found at {CONTRACT_CHECK}")
        pytest.skip(f"loader-contract-check not found at {CONTRACT_CHECK} (it lives in the shared/ checkout)")
    return subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(directory)], capture_output=True, text=True, timeout=300
    )


# Property tests: the "ci" profile keeps them fast; SCHEMAC_HYPOTHESIS_PROFILE=thorough runs 10,000 examples.
hypothesis_settings.register_profile("ci", max_examples=100, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=10_000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("SCHEMAC_HYPOTHESIS_PROFILE", "ci"))


# A spec opening one table ``t`` without audit columns; append column lines such as KEY_COLUMN.
ONE_TABLE = "description: x\ntables:\n  t:\n    audit: none\n    columns:\n"
KEY_COLUMN = "      id: {type: integer, primary_key: true}\n"


def findings(action: Callable[[], object]) -> list[str]:
    """The printed diagnostics of the :class:`schemac.SchemacError` that ``action`` must raise."""
    import schemac

    with pytest.raises(schemac.SchemacError) as caught:
        action()
    return [str(d) for d in caught.value.diagnostics]


def project_with(root: Path, specs: dict[str, str | bytes]) -> Path:
    """A project at ``root`` holding the given spec files (text or raw bytes)."""
    (root / "specs").mkdir(parents=True)
    for name, data in specs.items():
        (root / "specs" / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return root


@pytest.fixture(autouse=True)
def _private_cache_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests keep the build cache's signing key in a temporary home, never the user's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
