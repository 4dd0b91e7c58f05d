"""Loader: read a migrations directory as ordered :class:`Migration` objects, every checksum verified.

Reads ``*.sql`` only (as the first user's loader does), sorts by the integer version, and checks
each file's SHA-256 against ``manifest.json``, saying which file was added, edited or removed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemac.errors import Diagnostic, SchemacError
from schemac.migrations.manifest import (
    MANIFEST_NAME,
    MIGRATION_NAME,
    Published,
    parse_manifest,
    published_state,
    sha256_hex,
)
from schemac.project.inputs import MAX_MANIFEST_BYTES, MAX_MIGRATION_BYTES, decode, read_bytes


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


def load_migrations(
    path: str | Path, dialect: str | None = None, *, verify: bool = True, root: str | Path | None = None
) -> list[Migration]:
    """The migrations in ``path`` in version order; raises naming every added, edited or removed file.

    Files are read only where they really lie inside ``root`` (default: the migrations directory
    itself), so a symlink cannot make the loader read a file from elsewhere; with ``root``, findings
    name files relative to it.
    """
    directory = migrations_dir(path, dialect)
    inside = Path(os.path.realpath(root if root is not None else directory))
    shown = Path(os.path.relpath(directory, root)).as_posix() if root is not None else directory.as_posix()
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.exists() and not manifest_path.is_symlink():
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
    manifest_shown = f"{shown}/{MANIFEST_NAME}"
    manifest = parse_manifest(
        read_bytes(manifest_path, manifest_shown, MAX_MANIFEST_BYTES, root=inside), manifest_shown
    )
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
        try:
            raw = read_bytes(file, f"{shown}/{file.name}", MAX_MIGRATION_BYTES, root=inside)
            text = decode(raw, f"{shown}/{file.name}")
        except SchemacError as exc:
            found.extend(exc.diagnostics)
            continue
        if verify and published_state(entry, raw, specs=False) is Published.EDITED:
            found.append(
                Diagnostic(
                    f"{shown}/{file.name}",
                    1,
                    1,
                    "SC501",
                    f"edited: SHA-256 is {sha256_hex(raw)[:12]}…, manifest.json records {entry.sha256[:12]}…",
                    "restore it from version control; change the schema with a follow-up spec",
                )
            )
            continue
        migrations.append(
            Migration(
                int(match.group("version")),
                match.group("slug"),
                text,
                entry.sha256 if verify else sha256_hex(raw),  # verified: the file hashes to what the manifest says
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
