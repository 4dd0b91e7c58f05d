"""Loader: read a migrations directory as ordered :class:`Migration` objects, every checksum verified.

Reads ``*.sql`` only (as the first user's loader does), sorts by the integer version, and checks
each file's SHA-256 against ``manifest.json``, saying which file was added, edited or removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import Diagnostic, SchemacError
from .manifest import MANIFEST_NAME, parse_manifest, sha256_hex

MIGRATION_NAME = re.compile(r"(?P<version>[0-9]+)_(?P<slug>[a-z0-9_]+)\.sql")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str
    file: str = ""
    non_idempotent: tuple[str, ...] = ()


def migrations_dir(path: str | Path, dialect: str | None = None) -> Path:
    """``path`` itself, or its ``<dialect>/`` subdirectory when the project has one per dialect."""
    root = Path(path)
    if dialect and not (root / MANIFEST_NAME).exists() and (root / dialect).is_dir():
        return root / dialect
    return root


def load_migrations(path: str | Path, dialect: str | None = None, *, verify: bool = True) -> list[Migration]:
    """The migrations in ``path`` in version order; raises naming every added, edited or removed file."""
    directory = migrations_dir(path, dialect)
    shown = directory.as_posix()
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.exists():
        raise SchemacError(
            [
                Diagnostic(
                    f"{shown}/{MANIFEST_NAME}",
                    1,
                    1,
                    "SC508",
                    "manifest.json is missing",
                    "run 'schemac build' to write it",
                )
            ]
        )
    manifest = parse_manifest(manifest_path.read_bytes(), f"{shown}/{MANIFEST_NAME}")
    if dialect and manifest.dialect != dialect:
        raise SchemacError(
            [
                Diagnostic(
                    f"{shown}/{MANIFEST_NAME}", 1, 1, "SC509", f"migrations are for {manifest.dialect}, not {dialect}"
                )
            ]
        )
    recorded = manifest.by_file()
    found: list[Diagnostic] = []
    migrations: list[Migration] = []
    for file in sorted(directory.glob("*.sql")):
        match = MIGRATION_NAME.fullmatch(file.name)
        if match is None:
            found.append(
                Diagnostic(f"{shown}/{file.name}", 1, 1, "SC112", "file name does not match <version>_<slug>.sql")
            )
            continue
        entry = recorded.get(file.name)
        if entry is None:
            found.append(
                Diagnostic(
                    f"{shown}/{file.name}",
                    1,
                    1,
                    "SC503",
                    "added: file is not in manifest.json",
                    "remove it, or rebuild",
                )
            )
            continue
        raw = file.read_bytes()
        checksum = sha256_hex(raw)
        if verify and checksum != entry.sha256:
            found.append(
                Diagnostic(
                    f"{shown}/{file.name}",
                    1,
                    1,
                    "SC501",
                    f"edited: SHA-256 is {checksum[:12]}…, manifest.json records {entry.sha256[:12]}…",
                    "restore it from version control; change the schema with a follow-up spec",
                )
            )
            continue
        migrations.append(
            Migration(
                int(match.group("version")),
                match.group("slug"),
                raw.decode("utf-8"),
                checksum,
                file.name,
                entry.non_idempotent,
            )
        )
    present = {m.file for m in migrations} | {d.file.rsplit("/", 1)[-1] for d in found}
    for entry in manifest.entries:
        if entry.file not in present:
            found.append(
                Diagnostic(
                    f"{shown}/{entry.file}",
                    1,
                    1,
                    "SC502",
                    "removed: file is listed in manifest.json but missing",
                    "restore it from version control",
                )
            )
    if found:
        raise SchemacError(found)
    migrations.sort(key=lambda m: m.version)
    return migrations
