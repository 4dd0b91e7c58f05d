"""Every error code the tool can emit is documented in the README's error-code table."""

from __future__ import annotations

import re

from conftest import REPO

CODE = re.compile(r"SC[0-9]{3}")
ROW = re.compile(r"^\| `(SC[0-9]{3})` \|", re.MULTILINE)


def test_every_code_in_src_has_a_row_in_the_readme_table() -> None:
    sources = [p for p in (REPO / "src").rglob("*") if p.suffix in (".py", ".json", ".j2")]
    emitted = {code for path in sources for code in CODE.findall(path.read_text(encoding="utf-8"))}
    rows = ROW.findall((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(rows) == len(set(rows)), "a code has two rows"
    assert sorted(emitted - set(rows)) == []
    assert len(emitted) > 40
