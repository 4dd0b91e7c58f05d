"""Tables' current shapes as spec text: what ``schemac new --from TABLE`` copies into a new spec.

A spec lists each table it changes with its whole shape, so a change starts from the shape the table
has now: the text of the table in the spec that last listed it, comments kept, with ``renamed_from``
left out (that rename is done) and re-indented to sit under the new spec's ``tables:``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from schemac.errors import Diagnostic, SchemacError
from schemac.planner import plan
from schemac.project.compiler import discover, read_specs
from schemac.project.inputs import read_bytes
from schemac.project.settings import Settings
from schemac.spec.source import load_document

INDENT = 2
"""How far the copied tables stand under ``tables:``."""

_RENAMED_LINE = re.compile(r"(?m)^[ \t]*renamed_from:[^\n]*\n")
_RENAMED_FLOW = re.compile(r"(,\s*renamed_from:\s*[^,}\n]*)|(renamed_from:\s*[^,}\n]*,\s*)")


def _refuse(message: str, hint: str) -> SchemacError:
    return SchemacError([Diagnostic("--from", 1, 1, "SC116", message, hint)])


def current_shapes(settings: Settings, names: Sequence[str]) -> str:
    """The ``tables:`` block of a new spec holding ``names`` as the specs leave them, in that order.

    Raises with the specs' own errors (the shapes are those of a project that plans), and SC116 for a
    name no table has now, one given twice, or a table written inside a ``{…}`` flow mapping.
    """
    specs, found = read_specs(settings)
    if not any(d.severity == "error" for d in found):
        plans, problems = plan(specs)
        found += problems
    if any(d.severity == "error" for d in found):
        raise SchemacError(found)
    schema = plans[-1].schema if plans else {}
    declared_in = {table.name: p.spec for p in plans for table in p.spec.tables}
    for name in names:
        if name not in schema:
            listed = ", ".join(sorted(schema)) or "none yet"
            raise _refuse(f"no table '{name}' as of the newest spec", f"tables: {listed}")
        if names.count(name) > 1:
            raise _refuse(f"table '{name}' is named twice", "name each table once")
    paths = {f.display: f.path for f in discover(settings)[0]}
    blocks = []
    for name in names:
        shown = declared_in[name].file
        text = read_bytes(paths[shown], shown, root=settings.root.resolve()).decode("utf-8")
        blocks.append(_table_text(text, shown, name))
    return "tables:\n" + "\n".join(blocks)


def _table_text(text: str, display: str, name: str) -> str:
    """The lines of table ``name`` in a spec's ``text`` (with the comments just above it), at :data:`INDENT`."""
    document = load_document(text.encode("utf-8"), display)
    tables = list(document.data["tables"])
    lines = text.splitlines(keepends=True)
    line, column = document.key_positions[("tables", name)]
    if line == document.key_positions[("tables",)][0]:
        raise _refuse(
            f"table '{name}' in {display} is written inside a {{...}} mapping", "write tables: in block style there"
        )
    start = line - 1
    following = tables.index(name) + 1
    end = document.key_positions[("tables", tables[following])][0] - 1 if following < len(tables) else len(lines)
    end = next((n for n in range(start + 1, end) if lines[n][:1] not in ("", " ", "\t", "#", "\r", "\n")), end)
    while start > 0 and _comment_at_most(lines[start - 1], column - 1):
        start -= 1
    while end > start + 1 and (not lines[end - 1].strip() or _comment_at_most(lines[end - 1], column - 1)):
        end -= 1
    block = "".join(_shifted(lines[n].rstrip("\r\n") + "\n", INDENT - (column - 1)) for n in range(start, end))
    if not block.endswith("\n"):
        block += "\n"
    return _RENAMED_FLOW.sub("", _RENAMED_LINE.sub("", block))


def _comment_at_most(line: str, indent: int) -> bool:
    """Whether ``line`` is a comment standing no deeper than ``indent`` (it belongs to what follows)."""
    stripped = line.lstrip(" ")
    return stripped.startswith("#") and len(line) - len(stripped) <= indent


def _shifted(line: str, by: int) -> str:
    """``line`` indented ``by`` more spaces (fewer when negative, never below none)."""
    if by >= 0 or not line.strip():
        return " " * by + line if line.strip() else line
    spaces = len(line) - len(line.lstrip(" "))
    return line[min(spaces, -by) :]
