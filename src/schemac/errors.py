"""Diagnostics: located, coded findings, and the exception that carries them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# Exit codes follow sqlfluff: 0 clean, 1 findings or drift, 2 usage or bad input.
EXIT_FINDINGS = 1
EXIT_BAD_INPUT = 2


_NAMED_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def printable(text: str) -> str:
    """``text`` with every character Python does not print (controls, line and paragraph separators,
    invisible format characters such as bidirectional overrides) as an escape, and ``\\`` doubled, so
    that a diagnostic quoting a bad name stays on one line and shows what the file holds."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_NAMED_ESCAPES.get(char) or (char if char.isprintable() else ascii(char)[1:-1]) for char in text)


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding at a place in a file: printed as ``file:line:col: CODE message``, on one line."""

    file: str
    line: int
    column: int
    code: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.code} {self.message}"
        return printable(f"{text} (hint: {self.hint})" if self.hint else text)

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "hint": self.hint,
        }


class SchemacError(Exception):
    """Raised with every diagnostic found; the CLI prints them and exits with ``exit_code``."""

    def __init__(self, diagnostics: Iterable[Diagnostic], exit_code: int = EXIT_BAD_INPUT) -> None:
        self.diagnostics = sorted(set(diagnostics))
        self.exit_code = exit_code
        super().__init__("\n".join(str(d) for d in self.diagnostics))


def fail(file: str, line: int, column: int, code: str, message: str, hint: str = "") -> SchemacError:
    """A single-diagnostic error, for the places that must stop at once."""
    return SchemacError([Diagnostic(file, line, column, code, message, hint)])
