"""The README and the documentation show what the tool really does: the quickstart's output, the Python
API example, and the commands CI runs. Each test reads its section from the page that holds it."""

from __future__ import annotations

import hashlib
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import REPO

Cli = Callable[..., subprocess.CompletedProcess[str]]


def doc_section(page: str, title: str) -> str:
    """The text of the ``## title`` section of ``page`` (relative to the repository), up to the next
    ``## `` heading or the end of the page."""
    text = (REPO / page).read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"{page} has no section '{title}'"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_quickstart_runs_as_written_and_gives_exactly_the_sql_shown(tmp_path: Path, cli: Cli) -> None:
    quickstart = doc_section("README.md", "Quickstart")
    (commands,) = blocks(quickstart, "sh")
    (spec,) = blocks(quickstart, "yaml")
    (sql,) = blocks(quickstart, "sql")
    for line in commands.splitlines():
        words = shlex.split(line, comments=True)
        if words[0] == "$EDITOR":  # the author writes the spec shown below the commands
            (tmp_path / words[1]).write_text(spec, encoding="utf-8")
            continue
        assert words[0] == "schemac"
        outcome = cli(*words[1:], cwd=tmp_path)
        assert outcome.returncode == 0, f"{line}\n{outcome.stdout}{outcome.stderr}"
    written = (tmp_path / "shop" / "migrations" / "0001_create_orders.sql").read_text(encoding="utf-8")
    # The quickstart elides the spec's 64-digit hash; everything else is byte for byte.
    assert re.sub(r"spec SHA-256 [0-9a-f]{64}", "spec SHA-256 …", written) == sql

    # The Python API example runs against the same project, committed to git as origin/main.
    for git in (
        ["init", "-q"],
        ["add", "."],
        ["commit", "-qm", "shop"],
        ["update-ref", "refs/remotes/origin/main", "HEAD"],
    ):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *git], cwd=tmp_path, check=True)
    (api_example,) = blocks(doc_section("docs/python-api.md", "Example"), "python")
    api = subprocess.run([sys.executable, "-c", api_example], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert api.returncode == 0, api.stderr
    assert f"1 create_orders {hashlib.sha256(written.encode()).hexdigest()}" in api.stdout.splitlines()


def test_fresh_machine_commands_are_the_ones_ci_runs() -> None:
    install_and_build, install_and_test = (b.strip() for b in blocks(doc_section("README.md", "Fresh machine"), "sh"))
    assert install_and_build.endswith("schemac build --project examples/authoring")
    assert install_and_test.endswith(".venv/bin/pytest")
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert ci_lines[-2:] == [install_and_build, install_and_test]


def test_every_guarantee_of_security_md_names_test_files_that_exist() -> None:
    security = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    guarantees = re.findall(r"^### (.+?)\n(.*?)(?=^### |^## |\Z)", security, re.MULTILINE | re.DOTALL)
    assert len(guarantees) >= 8
    for title, body in guarantees:
        named = re.findall(r"`(tests/[a-z_]+\.py)`", body)
        assert named, f"guarantee '{title}' names no test"
        assert [name for name in named if not (REPO / name).is_file()] == []
