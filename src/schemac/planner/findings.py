"""How the planner's checks report findings: the callback they call, the hint listing known names, and
the refusal of a destructive change a spec does not allow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from schemac.model import Spec, Where


class ErrorSink(Protocol):
    """Records one finding of the spec being planned."""

    def __call__(self, where: Where, code: str, message: str, hint: str = "") -> None: ...


def known(what: str, items: Mapping[str, object]) -> str:
    """A hint naming the first ten of ``items`` (``what``: tables or columns), or nothing if there are none."""
    names = sorted(items)
    return f"known {what}: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}" if names else ""


def refuse_destructive(spec: Spec, where: Where, change: str, error: ErrorSink) -> None:
    """SC403 for ``change`` unless the spec sets ``allow_destructive``."""
    if not spec.allow_destructive:
        error(
            where,
            "SC403",
            f"destructive change refused: {change}",
            "existing rows can lose data or stop this migration; if intended, add allow_destructive: true to this spec",
        )
