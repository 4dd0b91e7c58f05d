"""The README shows what the tool really does: its quickstart output, and the commands CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import schemac
from conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the ``## title`` section, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}[^\n]*\n(.*?)(?=^## )", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no section '{title}'"
    return match.group(1)


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def test_quickstart_spec_gives_exactly_the_sql_shown(tmp_path: Path) -> None:
    quickstart = section("Quickstart")
    (spec,) = blocks(quickstart, "yaml")
    (sql,) = blocks(quickstart, "sql")
    project = tmp_path / "shop"
    schemac.init(project)
    (project / "specs" / "0001_create_orders.yaml").write_text(spec, encoding="utf-8")
    schemac.build(project)
    written = (project / "migrations" / "0001_create_orders.sql").read_text(encoding="utf-8")
    # The README elides the spec's 64-digit hash; everything else is byte for byte.
    assert re.sub(r"spec SHA-256 [0-9a-f]{64}", "spec SHA-256 …", written) == sql


def test_fresh_machine_commands_are_the_ones_ci_runs() -> None:
    install_and_build, install_and_test = (b.strip() for b in blocks(section("Fresh machine"), "sh"))
    assert install_and_build.endswith("schemac build --project examples/authoring")
    assert install_and_test.endswith(".venv/bin/pytest")
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert ci_lines[-2:] == [install_and_build, install_and_test]
