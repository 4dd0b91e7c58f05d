"""How the planner's checks report findings: the callback they call, the hint listing known names, and
the refusal of a destructive change a spec does not allow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from schemac.model import Column, Spec, Table, Where


class ErrorSink(Protocol):
    """Records one finding of the spec being planned."""

    def __call__(self, where: Where, code: str, message: str, hint: str = "") -> None: ...


def known(what: str, items: Mapping[str, object]) -> str:
    """A hint naming the first ten of ``items`` (``what``: tables or columns), or nothing if there are none."""
    names = sorted(items)
    return f"known {what}: {', '.join(names[:10])}{', …' if len(names) > 10 else ''}" if names else ""


DESTRUCTIVE_HINT = (
    "existing rows can lose data or stop this migration; if intended, add allow_destructive: true to this spec"
)


def refuse_destructive(spec: Spec, where: Where, change: str, error: ErrorSink, hint: str = "") -> None:
    """SC403 for ``change`` unless the spec sets ``allow_destructive``; ``hint`` replaces the usual one."""
    if not spec.allow_destructive:
        error(where, "SC403", f"destructive change refused: {change}", hint or DESTRUCTIVE_HINT)


def whole_shape_hint(before: Table, dropped: Sequence[Column]) -> str:
    """When a spec leaves out most of a table's columns (it likely lists only what changes): say that a spec
    lists each table's whole shape, and how to start from the current one. Empty otherwise."""
    kept = [c for c in before.columns if not c.audit]
    if 2 * sum(not c.audit for c in dropped) <= len(kept):
        return ""
    return (
        f"a spec lists each table's whole shape, not only what changes, and this one leaves out most of "
        f"'{before.name}': start from its current shape, in the spec that last listed it ('schemac new <slug> "
        f"--from {before.name}' copies it into a new spec once this one is removed); if the columns are to go, "
        "add allow_destructive: true"
    )
