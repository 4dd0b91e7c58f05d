"""The documentation site: it builds with ``mkdocs build --strict`` (every page in the navigation, every
link resolving), the README stays short and links every page, and the generated sections say all that
the JSON Schema, the code catalog and the package say."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

import schemac
from conftest import REPO

DOCS = REPO / "docs"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)


def load_hooks() -> ModuleType:
    """``docs/hooks.py``, the MkDocs hook that writes the generated sections (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("schemac_docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def pages() -> list[str]:
    """Every page of the site, relative to docs/."""
    return sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    outcome = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    return out


def built(site: Path, page: str) -> str:
    html = site / ("index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html")
    return html.read_text(encoding="utf-8")


def text_of(html: str) -> str:
    """What a page says, without its markup (highlighted code is split into many elements)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in pages():
        assert "<!-- generated:" not in built(site, page), page
        assert "--8&lt;--" not in built(site, page), page  # every include was made
    assert not (site / "hooks.py").exists()


def test_the_readme_is_short_and_links_every_page() -> None:
    readme = REPO / "README.md"
    assert readme.stat().st_size < 10_240
    text = readme.read_text(encoding="utf-8")
    assert [page for page in pages() if f"](docs/{page})" not in text] == []


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))

    def entries(nav: Any) -> Iterator[str]:
        if isinstance(nav, str):
            yield nav
        elif isinstance(nav, list):
            for item in nav:
                yield from entries(item)
        elif isinstance(nav, dict):
            for value in nav.values():
                yield from entries(value)

    listed = list(entries(config["nav"]))
    assert len(listed) == len(set(listed))
    assert sorted(listed) == pages()


def test_every_marker_names_a_generator() -> None:
    for page in pages():
        text = (DOCS / page).read_text(encoding="utf-8")
        assert set(MARKER.findall(text)) <= set(hooks.GENERATORS), page
        assert MARKER.search(hooks.render(text)) is None, page


def schema_mappings(node: Any) -> Iterator[list[str]]:
    """The keys of every mapping with named keys anywhere in a JSON Schema, in order."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            yield list(node["properties"])
        for value in node.values():
            yield from schema_mappings(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_mappings(value)


def test_the_spec_reference_lists_every_key_of_every_mapping_in_the_schema(site: Path) -> None:
    page = (DOCS / "spec-reference.md").read_text(encoding="utf-8")
    assert "<!-- generated: spec-reference -->" in page
    generated = hooks.spec_reference()
    sections = re.split(r"^### ", generated, flags=re.MULTILINE)[1:]
    documented = [re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE) for section in sections]
    schemas = sorted((REPO / "schema").glob("*.json"))
    assert schemas
    expected = [keys for file in schemas for keys in schema_mappings(json.loads(file.read_text(encoding="utf-8")))]
    assert sorted(map(sorted, expected)) == sorted(map(sorted, (keys for keys in documented if keys)))
    html = built(site, "spec-reference.md")
    for keys in expected:
        for key in keys:
            assert f"<code>{key}</code>" in html, key
    for name in json.loads(schemas[0].read_text(encoding="utf-8"))["$defs"]:
        assert f'id="{hooks.anchor(name)}"' in html, name


def test_the_included_pages_hold_the_readme_quickstart_and_security_md(site: Path) -> None:
    getting_started = text_of(built(site, "getting-started.md"))
    assert "schemac new create_orders --project shop" in getting_started
    assert '"idx_orders_status_created_at_desc"' in getting_started
    assert ".venv/bin/schemac build --project examples/authoring" in getting_started
    security = text_of(built(site, "security.md"))
    for title in re.findall(r"^#+ (.+)$", (REPO / "SECURITY.md").read_text(encoding="utf-8"), re.MULTILINE):
        assert text_of(title.replace("`", "")) in security, title


def test_the_api_reference_documents_every_exported_name(site: Path) -> None:
    html = built(site, "python-api.md")
    for name in schemac.__all__:
        assert re.search(rf'id="schemac\.[a-z_.]*\.{name}"', html), name


def test_the_commands_page_names_exactly_the_commands_that_take_format_and_quiet() -> None:
    import re

    import typer.main

    from schemac import cli

    commands = typer.main.get_command(cli.app).commands  # type: ignore[attr-defined]
    taking = {
        option: {name for name, command in commands.items() if any(option in p.opts for p in command.params)}
        for option in ("--format", "--quiet")
    }
    text = " ".join((REPO / "docs" / "commands.md").read_text(encoding="utf-8").split())
    listed = re.search(r"((?:`\w+`(?:, | and ))+`\w+`) take `--format text\|json\|github`", text)
    assert listed, "docs/commands.md no longer lists the commands that take --format"
    assert set(re.findall(r"`(\w+)`", listed.group(1))) == taking["--format"]
    quiet = re.search(r"; ((?:`\w+`(?:, | and ))+`\w+`) also take `--quiet`", text)
    assert quiet and set(re.findall(r"`(\w+)`", quiet.group(1))) == taking["--quiet"]
