"""Fewer temporary tables for :meth:`~schemac.dialects.base.Database.definitions`: a column definition or a
check that several tables hold word for word is made once.

How the engine shows a default depends only on the column's definition, and how it shows a check only
on the check's text and the definitions of the columns it names, so a repeated one (the audit checks of
every table, a ``status`` column with the same values) is shown the same way wherever it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemac.dialects.base import Shown, TableBody

_CheckKey = tuple[str, tuple[str, ...]]
"""A check's body and the definitions of the columns it names."""


@dataclass(frozen=True)
class Probes:
    """The tables to make (label → body), what each table asked about holds, and its checks' keys."""

    bodies: dict[str, str]
    asked: dict[str, TableBody]
    check_keys: dict[str, dict[str, _CheckKey]]
    """Label → check name → the check's key (its text and the definitions of the columns it names)."""

    def shown(self, made: Mapping[str, Shown]) -> dict[str, Shown]:
        """Each table's checks and defaults, from what the engine showed of the tables made."""
        defaults: dict[str, str | None] = {}
        checks: dict[_CheckKey, str] = {}
        for label, shown in made.items():
            columns, keys = dict(self.asked[label].columns), self.check_keys[label]
            defaults.update((columns[c], default) for c, default in shown.defaults.items() if c in columns)
            checks.update((keys[name], text) for name, text in shown.checks.items() if name in keys)
        return {
            label: Shown(
                {name: checks[key] for name, key in self.check_keys[label].items() if key in checks},
                {name: defaults[part] for name, part in body.columns if part in defaults},
            )
            for label, body in self.asked.items()
        }


def probes(tables: Mapping[str, TableBody]) -> Probes:
    """The tables to make for ``tables``: each column definition and check once, with the columns a check
    names."""
    bodies: dict[str, str] = {}
    check_keys: dict[str, dict[str, _CheckKey]] = {}
    seen: set[object] = set()
    for label, body in tables.items():
        columns = dict(body.columns)
        keys = check_keys[label] = {name: _key(columns, check, named) for name, check, named in body.checks}
        wanted: dict[str, None] = {}  # column definitions to make, in order
        constraints = []
        for (name, _, named), constraint in zip(body.checks, body.constraints, strict=True):
            if keys[name] not in seen:
                seen.add(keys[name])
                wanted.update((columns[c], None) for c in sorted(named))
                constraints.append(constraint)
        for _, definition in body.columns:
            if definition not in seen:
                seen.add(definition)
                wanted[definition] = None
        if constraints and not wanted and body.columns:  # a table of checks alone: it needs a column
            wanted[body.columns[0][1]] = None
        if wanted:
            bodies[label] = ", ".join([*wanted, *constraints])
    return Probes(bodies, dict(tables), check_keys)


def _key(columns: Mapping[str, str], check: str, named: frozenset[str]) -> _CheckKey:
    return check, tuple(sorted(columns[c] for c in named))
