"""Progress for long commands: one self-updating line on stderr, only on a terminal and never with --quiet.

A :class:`Progress` is a callable ``(done, total, stage)``; library functions that accept a
``progress`` callback (``build``, through the pipeline's reading and rendering) call it, and the CLI
passes one of these.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

ProgressCallback = Callable[[int, int, str], None]


def no_progress(done: int, total: int, stage: str) -> None:
    """The default callback: report nothing."""


class Progress:
    """Writes ``stage done/total (percent%)`` over itself, once per percent step, and clears it at the end."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self._shown: tuple[str, int] | None = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if not self.enabled:
            return
        percent = 100 * done // total if total else 100
        if self._shown == (stage, percent):
            return
        self._shown = (stage, percent)
        self.stream.write(f"\r\x1b[K{stage} {done}/{total} ({percent}%)")
        self.stream.flush()

    def close(self) -> None:
        """Clear the progress line, so that what follows starts on a clean line."""
        if self._shown is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
