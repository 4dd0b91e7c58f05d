"""Every error code the tool can emit is in the code catalog, ``schemac.codes.CODES``, and every entry
there is emitted somewhere; the documentation's error-code page is generated from the catalog."""

from __future__ import annotations

import re

from conftest import REPO
from schemac.codes import CODES, RANGES
from schemac.rules import RULES
from test_docs_site import hooks

CODE = re.compile(r"SC[0-9]{3}")
ROW = re.compile(r"^\| `(SC[0-9]{3})` \|", re.MULTILINE)


def emitted() -> set[str]:
    """The codes the sources name (the catalog itself left out)."""
    sources = [p for p in (REPO / "src").rglob("*") if p.suffix in (".py", ".json", ".j2") and p.name != "codes.py"]
    return {code for path in sources for code in CODE.findall(path.read_text(encoding="utf-8"))}


def test_every_code_in_src_is_in_the_catalog_and_every_entry_is_emitted() -> None:
    found = emitted()
    assert sorted(found - set(CODES)) == []
    assert sorted(set(CODES) - found) == []
    assert len(found) > 40


def test_every_code_the_documentation_names_is_in_the_catalog() -> None:
    """A code retired from the catalog (as SC114 was, for SC515) is not left behind in the prose."""
    pages = [*(REPO / "docs").glob("*.md"), REPO / "README.md"]
    named = {code for page in pages for code in CODE.findall(page.read_text(encoding="utf-8"))}
    assert sorted(named - set(CODES)) == []


def test_the_catalog_is_in_code_order_and_every_entry_is_complete() -> None:
    assert list(CODES) == sorted(CODES)
    for name, code in CODES.items():
        assert code.code == name and CODE.fullmatch(name), name
        assert name[:3] in RANGES, name
        assert code.summary and code.fix, name
        if code.rule:  # lint rules: severity is the default a project can change
            assert code.severity in ("error", "warning", "off"), name
        else:  # every other code shows a finding as printed, carrying that code
            assert code.examples and all(name in example for example in code.examples), name
            assert code.severity == ("warning" if name == "SC511" else "error"), name


def test_the_lint_rules_in_the_catalog_are_the_rules_lint_runs() -> None:
    assert [(c.code, c.rule, c.severity) for c in CODES.values() if c.rule] == [
        (rule.code, rule.name, rule.default or "off") for rule in RULES
    ]
    assert all(code.startswith("SC9") == bool(CODES[code].rule) for code in CODES)


def test_the_error_code_page_is_generated_from_the_catalog() -> None:
    page = (REPO / "docs" / "error-codes.md").read_text(encoding="utf-8")
    assert "<!-- generated: error-codes -->" in page
    assert ROW.findall(page) == []  # no hand-written rows to drift
    rendered = hooks.render(page)
    rows = ROW.findall(rendered)
    assert rows == list(CODES)  # every code, once, in order
    for code in CODES.values():
        for example in code.examples:
            assert f"`{example}`" in rendered, code.code
