"""The bad-input corpus: every case exits with its code and its exact located diagnostics, and changes nothing."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bad_input_cases import cases, run_case, settings_of, tree_hashes

DIAGNOSTIC = re.compile(r"[^\s:][^:]*:[1-9][0-9]*:[1-9][0-9]*: SC[0-9]{3} \S.*")


def test_the_corpus_is_large_enough() -> None:
    assert len(cases()) >= 60


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_bad_input_gives_its_exact_diagnostics(case: Path, tmp_path: Path) -> None:
    outcome = run_case(case, tmp_path)
    expected = (case / "expected.txt").read_text(encoding="utf-8")
    assert outcome.stderr == expected
    assert outcome.exit_code == settings_of(case).get("exit", 2)
    lines = outcome.stderr.splitlines()
    assert lines, "a refused input must say why"
    for line in lines:
        assert DIAGNOSTIC.fullmatch(line), line
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert outcome.after == outcome.before


def test_a_50_mb_spec_is_refused_before_parsing(
    make_project: Callable[..., Path], cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    project = make_project({})
    line = b"# " + b"x" * 97 + b"\n"
    (project / "specs" / "0001_huge.yaml").write_bytes(b"description: Huge.\n" + line * (50 * 1024 * 1024 // 100))
    (project / "migrations").mkdir()
    before = tree_hashes(project / "migrations")
    outcome = cli("build", "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        "specs/0001_huge.yaml:1:1: SC101 file is 52428819 bytes, over the limit of 5242880 bytes "
        "(hint: split the spec into several smaller specs)\n"
    )
    assert tree_hashes(project / "migrations") == before
