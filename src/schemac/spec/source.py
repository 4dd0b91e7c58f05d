"""Source stage: read spec files into plain data, keeping the line:column of every key and value.

YAML is read with libyaml's parser where available and resolved with the YAML 1.2 core
schema (so ``yes``, ``no``, ``on`` and ``off`` stay strings and dates stay text). Duplicate
keys, anchors, aliases, tags other than the core ones, non-UTF-8 bytes, a byte-order mark and
files over the size limit are refused with a located diagnostic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from schemac.errors import Diagnostic, SchemacError
from schemac.project.inputs import MAX_SPEC_BYTES, decode, position_of, read_bytes

__all__ = ["MAX_SPEC_BYTES", "Document", "decode", "load_document", "position_of", "read_bytes"]


class _PyParser(Reader, Scanner, Parser, Composer):
    """The pure-Python parser: the fallback, and the source of every syntax diagnostic's wording."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)


T = TypeVar("T")

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists; a spec needs about 8, and deeper input would exhaust the stack."""
SPEC_NAME = re.compile(r"(?P<version>[0-9]+)_(?P<slug>[a-z0-9_]+)\.yaml")

Path_ = tuple[str | int, ...]

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null"))
_SCALAR_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL}


class _CoreResolver(BaseResolver):
    """YAML 1.2 core schema: only true/false, null, integers and floats are implicit."""


for _tag, _pattern, _first in (
    (_BOOL, r"true|True|TRUE|false|False|FALSE", "tTfF"),
    (_NULL, r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    (_INT, r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        _FLOAT,
        r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
        "-+0123456789.",
    ),
):
    _CoreResolver.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), list(_first))


class _PyLoader(_PyParser, _CoreResolver):
    def __init__(self, stream: str) -> None:
        _PyParser.__init__(self, stream)
        _CoreResolver.__init__(self)


_LOADERS: list[Any] = [_PyLoader]
try:  # libyaml ships inside PyYAML's wheels and parses about six times faster than the pure-Python parser.
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    pass
else:

    class _FastLoader(CParser, _CoreResolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _CoreResolver.__init__(self)

    _LOADERS.insert(0, _FastLoader)


@dataclass(frozen=True)
class Document:
    """A parsed spec file: its data, and where each value and key stands in the file."""

    file: str
    data: Any
    sha256: str
    positions: dict[Path_, tuple[int, int]] = field(compare=False, repr=False)
    key_positions: dict[Path_, tuple[int, int]] = field(compare=False, repr=False)
    may_hold_controls: bool = field(default=True, compare=False, repr=False)
    """False when no key or value can hold a control character other than tab and newline (see
    :data:`CONTROL_SOURCES`), so that nothing needs to look."""

    def at(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The line:column of the value at ``path`` (or of its key), falling back to the nearest parent."""
        table = self.key_positions if key else self.positions
        while path:
            if path in table:
                return table[path]
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def diagnostic(self, path: Path_, code: str, message: str, hint: str = "", *, key: bool = False) -> Diagnostic:
        line, column = self.at(path, key=key)
        return Diagnostic(self.file, line, column, code, message, hint)


CONTROL_SOURCES = re.compile(r"[\\\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""Where a control character other than tab and newline can come from in a YAML file: itself (a
carriage return or NEL is a line break to YAML), or a backslash escape in a double-quoted scalar."""


def dotted(path: Path_) -> str:
    """``('tables', 'docs', 'columns', 'id')`` → ``tables.docs.columns.id``; list items as ``[2]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "spec"


def load_document(raw: bytes, display: str) -> Document:
    """Parse one spec file's bytes into a :class:`Document`."""
    text = decode(raw, display)
    for loader_class in _LOADERS:
        try:
            node = _compose(loader_class, text, display)
            break
        except SchemacError:
            if loader_class is _LOADERS[-1]:
                raise
            # libyaml words its errors differently: the pure-Python parser names the problem.
    if node is None:
        raise SchemacError(
            [Diagnostic(display, 1, 1, "SC108", "spec is empty", "a spec is a mapping with at least a description")]
        )
    builder = _Builder(display)
    data = builder.value(node, ())
    if not isinstance(data, dict):
        line, column = _mark(node)
        raise SchemacError([Diagnostic(display, line, column, "SC108", f"spec must be a mapping, not {_kind(node)}")])
    if builder.diagnostics:
        raise SchemacError(builder.diagnostics)
    return Document(
        display,
        data,
        hashlib.sha256(raw).hexdigest(),
        builder.positions,
        builder.key_positions,
        CONTROL_SOURCES.search(text) is not None,
    )


def _compose(loader_class: Any, text: str, display: str) -> Node | None:
    """The node tree of ``text``, or a located diagnostic for bad syntax, anchors, aliases and deep nesting."""
    try:
        if "&" in text or "*" in text:
            _with_loader(text, lambda loader: _refuse_anchors(loader, display), loader_class)
        node: Node | None = _with_loader(text, lambda loader: loader.get_single_node(), loader_class)
        return node
    except RecursionError:
        raise SchemacError([_first_too_deep(text, display)]) from None
    except yaml.MarkedYAMLError as exc:
        raise SchemacError([_syntax_diagnostic(exc, display, text)]) from None
    except yaml.reader.ReaderError as exc:  # reader errors carry a position but no mark
        line, column = position_of(text, exc.position)
        message = f"invalid YAML: the character U+{exc.character:04X} is not allowed in a YAML file"
        raise SchemacError([Diagnostic(display, line, column, "SC104", message)]) from None
    except yaml.YAMLError as exc:
        raise SchemacError([Diagnostic(display, 1, 1, "SC104", f"invalid YAML: {exc}")]) from None


def _with_loader(text: str, use: Callable[[Any], T], loader_class: Any = None) -> T:
    """``use(loader)`` on a fresh loader over ``text``; the reader may already refuse a character here."""
    loader = (loader_class or _PyLoader)(text)
    try:
        return use(loader)
    finally:
        loader.dispose()


def _refuse_anchors(loader: Any, display: str) -> None:
    """Stop at the first anchor or alias, before anything is expanded."""
    while (event := loader.get_event()) is not None:
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            line, column = event.start_mark.line + 1, event.start_mark.column + 1
            what = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            raise SchemacError(
                [
                    Diagnostic(
                        display,
                        line,
                        column,
                        "SC106",
                        f"YAML {what} '{event.anchor}' is not allowed in a spec",
                        "write the value out in full",
                    )
                ]
            )


def _depth_diagnostic(display: str, line: int, column: int) -> Diagnostic:
    return Diagnostic(
        display,
        line,
        column,
        "SC115",
        f"mappings and lists are nested more than {MAX_DEPTH} levels deep",
        "flatten the value; a spec needs only a few levels",
    )


def _first_too_deep(text: str, display: str) -> Diagnostic:
    """Where nesting first exceeds :data:`MAX_DEPTH`, found from the parser's events without recursion."""
    return _with_loader(text, lambda loader: _deepest(loader, display))


def _deepest(loader: Any, display: str) -> Diagnostic:
    depth = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH and (mark := event.start_mark) is not None:
                    return _depth_diagnostic(display, mark.line + 1, mark.column + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return Diagnostic(display, 1, 1, "SC115", "the YAML is nested too deeply to read")


def _indentation_hint(text: str, exc: yaml.MarkedYAMLError) -> str:
    """For a line indented less than the block above it but more than the mapping that holds it (PyYAML's
    ``expected <block end>``): how far each is indented, and how to line it up."""
    found, holder = exc.problem_mark, exc.context_mark
    if found is None or holder is None:
        return ""
    lines = text.splitlines()
    written = [n for n in range(found.line - 1, holder.line, -1) if lines[n].strip()[:1] not in ("", "#")]
    marks = [(n, len(lines[n]) - len(lines[n].lstrip(" "))) for n in written[:1]] + [(holder.line, holder.column)]
    unlike = " or ".join(f"line {n + 1} ({spaces})" for n, spaces in marks)
    spaces = f"{found.column} space{'' if found.column == 1 else 's'}"
    return (
        f"line {found.line + 1} is indented {spaces}, unlike {unlike}: YAML nests by indentation, so indent "
        "each key exactly as far as the other keys of its mapping (each '-' as the other items of its list)"
    )


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, display: str, text: str) -> Diagnostic:
    problem = exc.problem or "invalid YAML"
    # A quote or bracket left open is reported at the end of the file; point at where it opened.
    unclosed = ("end of stream" in problem or "<stream end>" in problem) and exc.context_mark is not None
    mark = exc.context_mark if unclosed else exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if "'\\t'" in problem:
        return Diagnostic(
            display, line, column, "SC104", "tab character in indentation", "YAML indents with spaces only"
        )
    if "expected a single document" in str(exc.context or ""):
        return Diagnostic(
            display, line, column, "SC109", "file holds more than one YAML document", "keep one spec per file"
        )
    context = f" {exc.context}" if exc.context else ""
    hint = _indentation_hint(text, exc) if problem.startswith("expected <block end>") else ""
    return Diagnostic(display, line, column, "SC104", f"invalid YAML:{context} {problem}".replace(":  ", ": "), hint)


def _mark(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a scalar"


class _Builder:
    """Turns a composed node tree into plain data plus position tables."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.positions: dict[Path_, tuple[int, int]] = {}
        self.key_positions: dict[Path_, tuple[int, int]] = {}
        self.diagnostics: list[Diagnostic] = []

    def value(self, node: Node, path: Path_) -> Any:
        self.positions[path] = _mark(node)
        if isinstance(node, MappingNode | SequenceNode) and len(path) >= MAX_DEPTH:
            if not any(d.code == "SC115" for d in self.diagnostics):
                self.diagnostics.append(_depth_diagnostic(self.display, *_mark(node)))
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            self._tag(node, f"{_CORE}seq")
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalar(node)

    def _tag(self, node: Node, expected: str) -> bool:
        if node.tag == expected or (isinstance(node, ScalarNode) and node.tag in _SCALAR_TAGS):
            return True
        line, column = _mark(node)
        self.diagnostics.append(
            Diagnostic(
                self.display,
                line,
                column,
                "SC107",
                f"YAML tag '{node.tag}' is not allowed in a spec",
                "remove the tag; specs use plain YAML values",
            )
        )
        return False

    def _mapping(self, node: MappingNode, path: Path_) -> dict[str, Any]:
        self._tag(node, f"{_CORE}map")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line, column = _mark(key_node)
            if not isinstance(key_node, ScalarNode):
                self.diagnostics.append(
                    Diagnostic(
                        self.display,
                        line,
                        column,
                        "SC110",
                        f"a mapping key must be a plain name, not {_kind(key_node)}",
                    )
                )
                continue
            key = str(key_node.value)
            if key in result:
                first = self.key_positions[(*path, key)]
                self.diagnostics.append(
                    Diagnostic(
                        self.display,
                        line,
                        column,
                        "SC105",
                        f"duplicate key '{key}' (first defined at line {first[0]})",
                        "keep one of the two entries",
                    )
                )
                continue
            self.key_positions[(*path, key)] = (line, column)
            result[key] = self.value(value_node, (*path, key))
        return result

    def _scalar(self, node: ScalarNode) -> Any:
        if not self._tag(node, _STR):
            return node.value
        text: str = node.value
        if node.tag == _STR:
            return text
        try:
            if node.tag == _BOOL:
                return text.lower() == "true"
            if node.tag == _NULL:
                return None
            if node.tag == _INT:
                if text[:2] not in ("0o", "0x"):
                    return int(text)
                value = int(text, 0)
                # Python limits the digits of decimal integers only; one it could not write out would
                # break every message that shows it: raise its ValueError here.
                str(value)
                return value
            return float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))
        except ValueError:
            line, column = _mark(node)
            shown = text if len(text) <= 40 else f"{text[:40]}…"
            self.diagnostics.append(
                Diagnostic(self.display, line, column, "SC107", f"value '{shown}' does not fit its tag '{node.tag}'")
            )
            return text
