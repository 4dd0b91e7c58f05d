"""``schemac docs``: the Markdown data dictionary (golden files) and its Mermaid ER diagram (parsed)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

import pytest

import schemac
from conftest import EXAMPLE
from schemac.project.compiler import compile_project
from schemac.project.settings import load_settings

Run = Callable[..., CompletedProcess[str]]
GOLDEN = Path(__file__).parent / "docs_golden"

ENTITY = re.compile(r"    (?P<name>[a-z_][a-z0-9_]*) \{")
ATTRIBUTE = re.compile(
    r"        (?P<type>[A-Za-z_][A-Za-z0-9_]*) (?P<name>[a-z_][a-z0-9_]*)"
    r'(?: (?P<keys>(?:PK|FK|UK)(?:, (?:PK|FK|UK))*))?(?: "(?P<comment>[^"]*)")?'
)
RELATIONSHIP = re.compile(
    r"    (?P<parent>[a-z_][a-z0-9_]*) (?P<left>\|\||\|o|\}o|\}\|)--(?P<right>\|\||o\||o\{|\|\{) "
    r'(?P<child>[a-z_][a-z0-9_]*) : "(?P<label>[^"]+)"'
)


@dataclass
class Diagram:
    entities: dict[str, list[tuple[str, str, str, str]]] = field(default_factory=dict)
    relationships: list[tuple[str, str, str, str, str]] = field(default_factory=list)


def parse_mermaid(text: str) -> Diagram:
    """A strict reader of the erDiagram subset schemac writes; any other line fails the test."""
    lines = text.splitlines()
    assert lines[0] == "erDiagram"
    diagram, current = Diagram(), None
    for line in lines[1:]:
        if current is not None:
            if line == "    }":
                current = None
                continue
            attribute = ATTRIBUTE.fullmatch(line)
            assert attribute, f"bad attribute line: {line!r}"
            diagram.entities[current].append(
                (attribute["name"], attribute["type"], attribute["keys"] or "", attribute["comment"] or "")
            )
        elif entity := ENTITY.fullmatch(line):
            assert entity["name"] not in diagram.entities, f"entity {entity['name']} twice"
            current = entity["name"]
            diagram.entities[current] = []
        else:
            rel = RELATIONSHIP.fullmatch(line)
            assert rel, f"bad line: {line!r}"
            diagram.relationships.append((rel["parent"], rel["left"], rel["right"], rel["child"], rel["label"]))
    assert current is None, "unclosed entity"
    return diagram


def _mermaid_block(markdown: str) -> str:
    blocks = re.findall(r"```mermaid\n(.*?)```", markdown, re.DOTALL)
    assert len(blocks) == 1
    return str(blocks[0])


@pytest.mark.parametrize("project", [EXAMPLE, GOLDEN], ids=["example", "golden"])
def test_the_diagram_holds_every_table_column_and_foreign_key(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.md"
    schemac.docs(project, out)
    diagram = parse_mermaid(_mermaid_block(out.read_text(encoding="utf-8")))
    schema = compile_project(load_settings(project)).plans[-1].schema
    assert list(diagram.entities) == sorted(schema)
    for name, table in schema.items():
        attributes = diagram.entities[name]
        assert [(a[0], a[1]) for a in attributes] == [(c.name, c.type.name) for c in table.columns]
        keyed = [a[0] for a in attributes if "PK" in a[2].split(", ")]
        assert keyed == [c.name for c in table.columns if c.name in table.primary_key]
        nullable = [a[0] for a in attributes if "nullable" in a[3]]
        assert nullable == [c.name for c in table.columns if c.nullable]
    expected = {(fk.ref_table, name, fk.name) for name, table in schema.items() for fk in table.foreign_keys}
    assert {(p, c, label) for p, _, _, c, label in diagram.relationships} == expected
    assert len(diagram.relationships) == len(expected)


def test_cardinality_follows_nullability_and_uniqueness(tmp_path: Path) -> None:
    schemac.docs(GOLDEN, tmp_path / "schema.md")
    diagram = parse_mermaid(_mermaid_block((tmp_path / "schema.md").read_text(encoding="utf-8")))
    ends = {label: (left, right) for _, left, right, _, label in diagram.relationships}
    assert ends["fk_categories_parent_id"] == ("|o", "o{")  # nullable self-reference
    assert ends["fk_product_texts_sku"] == ("||", "o|")  # the key is also the primary key
    assert ends["fk_price_points_country_area"] == ("||", "o{")  # composite, part of a longer key


def test_the_parser_rejects_broken_diagrams() -> None:
    good = 'erDiagram\n    a {\n        integer id PK\n    }\n    a ||--o{ a : "fk"\n'
    assert parse_mermaid(good).entities == {"a": [("id", "integer", "PK", "")]}
    for broken in (
        good.replace("    }\n", ""),
        good.replace("integer id PK", "integer(10) id PK"),
        good.replace("||--o{", "||--x{"),
        good.replace(': "fk"', ": fk"),
    ):
        with pytest.raises(AssertionError):
            parse_mermaid(broken)


@pytest.mark.parametrize(
    ("project", "golden"),
    [(EXAMPLE, EXAMPLE / "docs" / "schema.md"), (GOLDEN, GOLDEN / "expected.md")],
    ids=["example", "golden"],
)
def test_markdown_matches_the_golden_file(project: Path, golden: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.md"
    schemac.docs(project, out)
    assert out.read_bytes() == golden.read_bytes(), "refresh with: python tests/test_docs.py"


def test_the_example_docs_are_current(cli: Run) -> None:
    outcome = cli("docs", "--project", EXAMPLE, "--check")
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout == f"up to date: {EXAMPLE / 'docs' / 'schema.md'} (6 tables)\n"


def test_docs_writes_atomically_and_leaves_an_unchanged_file_alone(example_copy: Path, cli: Run) -> None:
    target = example_copy / "docs" / "schema.md"
    target.unlink()
    outcome = cli("docs", "--project", example_copy)
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout == f"wrote {target} (6 tables)\n"
    inode = target.stat().st_ino
    assert schemac.docs(example_copy).written is False
    assert target.stat().st_ino == inode
    spec = example_copy / "specs" / "0001_documents.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("A reusable", "A shared"), encoding="utf-8")
    assert schemac.docs(example_copy).written is True
    assert target.stat().st_ino != inode  # replaced by rename, never rewritten in place
    assert "A shared starting structure" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["schema.md"]


def test_check_reports_a_missing_or_stale_file(example_copy: Path, cli: Run) -> None:
    target = example_copy / "docs" / "schema.md"
    target.write_text("old\n", encoding="utf-8")
    stale = cli("docs", "--project", example_copy, "--check")
    assert (stale.returncode, stale.stderr) == (
        1,
        "docs/schema.md:1:1: SC590 data dictionary is out of date: the specs give different content "
        "(hint: run 'schemac docs')\n",
    )
    assert target.read_text(encoding="utf-8") == "old\n"
    target.unlink()
    missing = cli("docs", "--project", example_copy, "--check", "--format", "json")
    assert missing.returncode == 1
    assert '"message": "data dictionary is missing"' in missing.stdout
    assert not target.exists()


def test_output_option_and_docs_setting(example_copy: Path, tmp_path: Path, cli: Run) -> None:
    chosen = tmp_path / "elsewhere" / "dictionary.md"
    assert cli("docs", "--project", example_copy, "--output", chosen).returncode == 0
    assert chosen.read_bytes() == (EXAMPLE / "docs" / "schema.md").read_bytes()
    settings = example_copy / "pyproject.toml"
    text = settings.read_text(encoding="utf-8").replace('specs = "specs"\n', 'specs = "specs"\ndocs = "doc/db.md"\n')
    settings.write_text(text, encoding="utf-8")
    result = schemac.docs(example_copy)
    assert result.path == example_copy.resolve() / "doc" / "db.md"
    assert result.path.read_bytes() == chosen.read_bytes()


def test_a_bad_docs_setting_is_a_located_settings_error(make_project: Callable[..., Path], cli: Run) -> None:
    project = make_project({}, 'specs = "specs"\ndocs = "docs/schema.html"\n')
    outcome = cli("docs", "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr == "schemac.toml:2:1: SC704 docs must be the path of a .md file, not 'docs/schema.html'\n"


def test_a_project_without_tables(make_project: Callable[..., Path]) -> None:
    project = make_project({})
    result = schemac.docs(project)
    assert (result.tables, result.written) == (0, True)
    assert result.path.read_text(encoding="utf-8").endswith("# Data dictionary\n\nNo tables yet.\n")


def refresh() -> None:
    """Rewrite the golden data dictionaries after an intended change."""
    schemac.docs(EXAMPLE)
    schemac.docs(GOLDEN, GOLDEN / "expected.md")
    print(f"refreshed {EXAMPLE / 'docs' / 'schema.md'} and {GOLDEN / 'expected.md'}")


if __name__ == "__main__":
    refresh()


def test_history_follows_changes_and_renames() -> None:
    from schemac.datadict import histories

    found = histories(compile_project(load_settings(GOLDEN)).plans)
    versions = {name: (h.created.prefix, h.changed.prefix) for name, h in found.items()}
    assert versions == {
        "categories": ("0001", "0003"),  # a column added
        "products": ("0001", "0001"),
        "regions": ("0002", "0002"),
        "price_points": ("0002", "0002"),
        "product_texts": ("0002", "0003"),  # renamed from product_details
    }
