"""The code stays ruff-clean and mypy --strict clean: part of the one test command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.parametrize("tool", [["ruff", "check", "src", "tests", "benchmarks", "docs"], ["mypy"]])
def test_static_checks_pass(tool: list[str]) -> None:
    outcome = subprocess.run([sys.executable, "-m", *tool], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
