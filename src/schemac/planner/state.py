"""The schema while planning (:class:`PlanState`), its incremental :class:`Fingerprint`, and the schema
as of one version (:class:`SchemaAt`), read from the history the planner keeps."""

from __future__ import annotations

import bisect
import copy
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Mapping, MutableMapping

from schemac.model import Table
from schemac.spec.names import primary_key_name


class Fingerprint:
    """A hash of a set of tables that updates in O(changed tables): the sum of table digests mod 2**256."""

    def __init__(self, total: int = 0) -> None:
        self.total = total

    def add(self, table: Table) -> None:
        self.total = (self.total + table.digest) % 2**256

    def remove(self, table: Table) -> None:
        self.total = (self.total - table.digest) % 2**256

    def hexdigest(self) -> str:
        return hashlib.sha256(self.total.to_bytes(32, "big")).hexdigest()


def _object_names(table: Table) -> list[str]:
    """Names a table puts in the schema's one namespace."""
    key = [primary_key_name(table.name)] if table.primary_key else []
    return [table.name, *(i.name for i in table.indexes), *key]


OWNER_WORDING = {
    "table": "table '{}'",
    "primary key": "the primary key of table '{}'",
    "index": "an index of table '{}'",
}
"""How findings name the owner of an object name, by kind, given the table's name."""


def _describe_object(name: str, table: Table) -> str:
    """What object ``name`` of ``table`` is, as findings say it (a primary key, then an index, then the table)."""
    if table.primary_key and name == primary_key_name(table.name):
        kind = "primary key"
    elif name in table.index_names:
        kind = "index"
    else:
        kind = "table"
    return OWNER_WORDING[kind].format(table.name)


class PlanState(MutableMapping[str, Table]):
    """The schema while planning, with what the checks look up kept up to date as tables change.

    Who owns each object name, which tables reference each table, and the schema order are
    updated per changed table, so planning a version costs what its spec touches, not the size of
    the schema. A state can be kept and resumed (the build cache does), ``tables`` may load lazily.
    """

    def __init__(self, tables: MutableMapping[str, Table] | None = None) -> None:
        self.tables: MutableMapping[str, Table] = tables if tables is not None else {}
        self.position = {name: i for i, name in enumerate(self.tables)}
        self.next_position = len(self.position)
        self.owners: dict[str, str] = {}
        """Object name → the table that owns it."""
        self.shared: dict[str, set[str]] = {}
        """Object names that several tables own at once (while a version is planned) → those tables."""
        self.referrers: dict[str, set[str]] = {}
        self.fingerprint = 0
        self.versions = 0
        self._since_version: dict[str, Table | None] = {}
        self._since_index: dict[str, Table | None] = {name: None for name in self.tables}
        self.refresh()
        self._since_version.clear()

    def __getitem__(self, name: str) -> Table:
        table: Table = self.tables[name]
        return table

    def __setitem__(self, name: str, table: Table) -> None:
        self._touch(name)
        if name not in self.tables:
            self.position[name] = self.next_position
            self.next_position += 1
        self.tables[name] = table

    def __delitem__(self, name: str) -> None:
        self._touch(name)
        del self.tables[name]
        del self.position[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    def _touch(self, name: str) -> None:
        for record in (self._since_version, self._since_index):
            if name not in record:
                record[name] = self.tables.get(name)

    def refresh(self) -> None:
        """Bring owners and referrers up to date with the tables changed since the last refresh."""
        for name, old in self._since_index.items():
            new = self.tables.get(name)
            if old is new:
                continue
            for table, add in ((old, False), (new, True)):
                if table is None:
                    continue
                for key in _object_names(table):
                    (self._claim if add else self._release)(key, name)
                for target in {fk.ref_table for fk in table.foreign_keys}:
                    users = self.referrers.setdefault(target, set())
                    (users.add if add else users.discard)(name)
        self._since_index.clear()

    def end_version(self) -> list[tuple[str, Table | None]]:
        """The tables this version changed (in schema order), folded into the fingerprint."""
        self.refresh()
        fingerprint = Fingerprint(self.fingerprint)
        changes = []
        for name, old in self._since_version.items():
            new = self.tables.get(name)
            if old is new:
                continue
            if old is not None:
                fingerprint.remove(old)
            if new is not None:
                fingerprint.add(new)
            changes.append((name, new))
        self._since_version.clear()
        self.fingerprint = fingerprint.total
        self.versions += 1
        return changes

    def _claim(self, key: str, table: str) -> None:
        owner = self.owners.setdefault(key, table)
        if owner != table:
            self.shared.setdefault(key, {owner}).add(table)

    def _release(self, key: str, table: str) -> None:
        users = self.shared.get(key)
        if users is None:
            if self.owners.get(key) == table:
                del self.owners[key]
            return
        users.discard(table)
        if self.owners[key] == table:
            self.owners[key] = next(iter(users))
        if len(users) == 1:
            del self.shared[key]

    def owner(self, name: str, excluding: set[str]) -> str | None:
        """Which table owns object ``name`` among tables not in ``excluding`` (the latest in schema order)."""
        tables = self.shared.get(name) or ((self.owners[name],) if name in self.owners else ())
        owning = [t for t in tables if t not in excluding]
        return max(owning, key=self.position.__getitem__) if owning else None

    def describe(self, name: str, table: str) -> str:
        return _describe_object(name, self.tables[table])

    def in_order(self, names: Iterable[str]) -> list[str]:
        return sorted((n for n in set(names) if n in self.position), key=self.position.__getitem__)

    def copy(self) -> PlanState:
        """A copy to resume from later (tables themselves are immutable and shared)."""
        clone: PlanState = copy.copy(self)
        clone.tables = copy.copy(self.tables)
        clone.position = dict(self.position)
        clone.owners = dict(self.owners)
        clone.shared = {name: set(users) for name, users in self.shared.items()}
        clone.referrers = {name: set(users) for name, users in self.referrers.items()}
        clone._since_version, clone._since_index = dict(self._since_version), dict(self._since_index)
        return clone


class SchemaAt(Mapping[str, Table]):
    """The schema as of one version, read from the shared history without copying it per version.

    ``base`` is the schema before the first version of the history (empty unless planning resumed).
    """

    def __init__(
        self, history: dict[str, list[tuple[int, Table | None]]], version: int, base: Mapping[str, Table]
    ) -> None:
        self._history, self._version, self._base = history, version, base

    def __getitem__(self, name: str) -> Table:
        changes = self._history.get(name, [])
        at = bisect.bisect_right(changes, self._version, key=lambda change: change[0])
        table = changes[at - 1][1] if at else self._base.get(name)
        if table is None:
            raise KeyError(name)
        return table

    def __iter__(self) -> Iterator[str]:
        names = itertools.chain(self._base, (name for name in self._history if name not in self._base))
        return (name for name in names if name in self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __len__(self) -> int:
        return sum(1 for _ in self)
