"""Adoption: which hand-written files in a migrations directory ``schemac adopt`` may record, and why not.

A project that starts from a directory of hand-written migrations keeps those files as they are:
the manifest records each one as *adopted* (file, version, SHA-256), and from then on it is as
immutable as a published file. A file can be adopted only if the first user's loader reads it the
same way (a version, ``_``, a name), if no other file has the same integer version (the runner's
history holds one row per version), and, once the manifest records anything, if it is numbered
above everything recorded (a runner that applied the newest recorded file would never run it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from schemac.errors import Diagnostic, SchemacError
from schemac.migrations.manifest import ADOPTABLE_NAME, MAX_VERSION, AdoptedFile, Manifest, sha256_hex
from schemac.migrations.published import read_migration
from schemac.project.inputs import decode

if TYPE_CHECKING:
    from schemac.project.settings import Settings

HINT_RENUMBER = "rename it before any database has applied it, or write it as a raw SQL step in specs/"


def adoptable(
    directory: Path, manifest: Manifest | None, produced: Mapping[str, int], settings: Settings
) -> tuple[tuple[AdoptedFile, ...], list[Diagnostic]]:
    """The ``.sql`` files in ``directory`` to adopt (every one that no spec produces, ``produced``: file →
    version, and that the manifest does not record yet), in version order, and why any of them cannot be."""
    recorded: dict[int, str] = {version: file for file, version in produced.items()}
    listed: set[str] = set(produced)
    if manifest is not None:
        recorded |= {e.version: e.file for e in manifest.entries} | {a.version: a.file for a in manifest.adopted}
        listed |= {e.file for e in manifest.entries} | {a.file for a in manifest.adopted}
    newest = manifest.newest() if manifest is not None else None
    found: list[Diagnostic] = []
    adopted: list[AdoptedFile] = []
    for path in sorted(directory.glob("*.sql"), key=lambda p: p.name):
        if path.name in listed:
            continue
        shown = settings.relative(path)

        def refuse(message: str, hint: str = HINT_RENUMBER, shown: str = shown) -> None:
            found.append(Diagnostic(shown, 1, 1, "SC522", f"cannot adopt: {message}", hint))

        name = ADOPTABLE_NAME.fullmatch(path.name)
        if name is None:
            refuse(
                "a migration file is named <version>_<name>.sql, the version in digits and the name in "
                "letters, digits, '_', '-' and '.'"
            )
            continue
        version = int(name.group("version"))
        if version > MAX_VERSION:
            refuse(f"version {version} is larger than {MAX_VERSION}, the largest every engine and loader holds")
            continue
        if version in recorded:
            refuse(
                f"version {version} is also the version of {recorded[version]}: "
                "a runner's history holds one file per version, so one of them would never run"
            )
            continue
        if newest is not None and version <= newest[0]:
            refuse(
                f"version {version} is at or below {newest[0]} ({newest[1]}), the newest version recorded: "
                "a runner that applied that one would never run this file",
                f"renumber it above {newest[0]} before any database has applied it, "
                "or write it as a raw SQL step in specs/",
            )
            continue
        try:
            data = read_migration(path, settings) or b""
            decode(data, shown)
        except SchemacError as exc:
            found.extend(exc.diagnostics)
            continue
        recorded[version] = path.name
        adopted.append(AdoptedFile(version, path.name, sha256_hex(data)))
    return tuple(sorted(adopted, key=lambda a: a.version)), found
