"""Behaviours that take effect at a version: where a change to the generated schema starts.

Published files are kept as published, so a behaviour that changed every version's model would change
nothing that a database ever runs. Instead a behaviour takes effect at one version: the first version
not yet published when it was turned on (the first version of a new project). Versions before it are
generated without it; the manifest records that version (``behaviours``), and a manifest without the
record has the behaviour in effect nowhere. Two behaviours:

- ``audit_defaults`` (``[audit] defaults = true``): audit ``created_at`` and ``updated_at`` default to the
  current time; the version where it takes effect gives the tables that exist their defaults. A
  behaviour a setting turned on cannot be turned off once it took effect (SC530).
- ``sqlite_plain_keys`` (always on): on SQLite, a lone integer key without ``identity`` of a table created
  from that version on is written ``BIGINT``, a plain key that does not number itself,
  as on the other engines; a table created before keeps its ``INTEGER`` rowid alias (a rebuild copies it
  as it is). Only the manifests of engines with rowid keys record it, once a version writes a plain key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from schemac.dialects import DIALECTS, Dialect
from schemac.errors import SchemacError
from schemac.migrations.manifest import MANIFEST_NAME, Manifest
from schemac.migrations.published import locate
from schemac.planner import Operation, RebuildTable
from schemac.project.settings import Settings, setting_diagnostic

AUDIT_DEFAULTS = "audit_defaults"
PLAIN_KEYS = "sqlite_plain_keys"


def _manifests(settings: Settings) -> list[Manifest]:
    """Each configured dialect's manifest that can be read (the build says what is wrong with another)."""
    found = []
    for name in settings.dialects:
        try:
            manifest = locate(settings, name).manifest
        except SchemacError:
            manifest = None
        if manifest is not None:
            found.append(manifest)
    return found


def _recorded(manifests: Sequence[Manifest], behaviour: str) -> int | None:
    return min((version for m in manifests for name, version in m.behaviours if name == behaviour), default=None)


def _first_unpublished(manifests: Sequence[Manifest], versions: Sequence[int]) -> int | None:
    """The first of ``versions`` (ascending) above every version ``manifests`` record."""
    newest = max((found[0] for m in manifests if (found := m.newest()) is not None), default=None)
    return next((v for v in versions if newest is None or v > newest), None)


def resolve(settings: Settings, versions: Sequence[int]) -> Settings:
    """``settings`` with :attr:`Settings.audit_defaults_from` and :attr:`Settings.plain_keys_from` set: the
    version the manifests record, else (for audit defaults, when the setting is on) the first of
    ``versions`` (the specs', ascending) above every published one.

    Raises SC530 when a manifest records audit defaults and the settings turn them off.
    """
    manifests = _manifests(settings)
    audit_from = _recorded(manifests, AUDIT_DEFAULTS)
    if audit_from is not None and not settings.audit_defaults:
        header = "[tool.schemac.audit]" if settings.source == "pyproject.toml" else "[audit]"
        shown = settings.relative(settings.output_dir(manifests[0].dialect) / MANIFEST_NAME)
        message = (
            f"audit defaults took effect at version {audit_from} ({shown} records it) and cannot be turned off: "
            "published migrations gave created_at and updated_at their defaults"
        )
        hint = f"set defaults = true under {header} again"
        raise SchemacError([setting_diagnostic(settings, "defaults", "SC530", message, hint, section="audit")])
    if audit_from is None and settings.audit_defaults:
        audit_from = _first_unpublished(manifests, versions)
    keys_from = _recorded(manifests, PLAIN_KEYS)
    recorded = frozenset(name for m in manifests for name, _ in m.behaviours)
    if keys_from is None:
        rowid = [m for m in manifests if DIALECTS[m.dialect].rowid_keys]
        keys_from = _first_unpublished(rowid, versions)
    return dataclasses.replace(
        settings, audit_defaults_from=audit_from, plain_keys_from=keys_from, recorded_behaviours=recorded
    )


def record(
    settings: Settings, dialect: str, rendered: Sequence[tuple[int, Callable[[], bytes]]]
) -> tuple[tuple[str, int], ...]:
    """The ``behaviours`` that ``dialect``'s manifest records, for ``settings`` as :func:`resolve` gives them;
    ``rendered``: (version, its SQL) of each version generated from a spec.

    Plain keys are recorded once a manifest records them, or once a version from theirs writes the type of
    a plain key: until then no table has one, and the version where they take effect may still move on.
    """
    found = []
    if settings.audit_defaults_from is not None:
        found.append((AUDIT_DEFAULTS, settings.audit_defaults_from))
    since = settings.plain_keys_from
    types = {name.encode() for name in DIALECTS[dialect].plain_key_types.values()}
    if since is not None and types:
        written = PLAIN_KEYS in settings.recorded_behaviours or any(
            kind in data() for version, data in rendered if version >= since for kind in types
        )
        if written:
            found.append((PLAIN_KEYS, since))
    return tuple(found)


def kept_rowid_keys(operations: Sequence[Operation], dialect: Dialect, plain_keys_from: int | None) -> tuple[str, ...]:
    """What ``plan`` says of each table that ``operations`` rebuild on ``dialect`` and that keeps its rowid key:
    created before plain keys took effect, it is copied as it is, its lone integer key numbering itself."""
    if not dialect.plain_key_types:
        return ()
    since = f"version {plain_keys_from}" if plain_keys_from is not None else "plain keys took effect"
    notes = []
    for op in operations:
        for table in (copied.after for copied in op.tables) if isinstance(op, RebuildTable) else ():
            key = table.column(table.primary_key[0]) if len(table.primary_key) == 1 else None
            numbered = key is not None and not key.identity and dialect.rowid_key(table)
            if key is not None and numbered and key.type.name in dialect.plain_key_types:
                notes.append(
                    f"rebuilt table {table.name} keeps its INTEGER key {key.name}, which numbers itself: the table "
                    f"was created before {since}, since when a key without identity is a plain key on SQLite "
                    "(identity: true says what it does)"
                )
    return tuple(notes)
