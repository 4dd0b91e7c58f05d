"""Loader: read a migrations directory as ordered :class:`Migration` objects, every checksum verified.

Reads ``*.sql`` only (as the first user's loader does), generated and adopted hand-written files
alike, sorts by the integer version, and checks each file's SHA-256 against ``manifest.json``, saying
which file was added, edited or removed in the words ``check`` uses
(:func:`~schemac.migrations.drift.classify`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemac.errors import Diagnostic, SchemacError, fail
from schemac.migrations.drift import classify
from schemac.migrations.manifest import (
    ADOPTABLE_NAME,
    MANIFEST_NAME,
    MIGRATION_NAME,
    ManifestEntry,
    Published,
    adopted_state,
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
    manifest_shown = f"{shown}/{MANIFEST_NAME}"
    if not manifest_path.exists() and not manifest_path.is_symlink():
        raise fail(manifest_shown, 1, 1, "SC508", "manifest.json is missing", "run 'schemac build' to write it")
    manifest = parse_manifest(
        read_bytes(manifest_path, manifest_shown, MAX_MANIFEST_BYTES, root=inside), manifest_shown
    )
    if dialect and manifest.dialect != dialect:
        raise fail(manifest_shown, 1, 1, "SC509", f"migrations are for {manifest.dialect}, not {dialect}")
    recorded = manifest.by_file()
    adopted = manifest.adopted_by_file()
    found: list[Diagnostic] = []
    migrations: list[Migration] = []
    seen: set[str] = set()  # the files on disk the manifest lists or records as adopted
    for file in sorted(directory.glob("*.sql")):
        display = f"{shown}/{file.name}"
        entry = recorded.get(file.name)
        if entry is None and file.name not in adopted:
            found.append(_finding(Published.UNLISTED, display))
            continue
        match = (ADOPTABLE_NAME if file.name in adopted else MIGRATION_NAME).fullmatch(file.name)
        assert match is not None, file.name  # the manifest's names were checked as it was read
        seen.add(file.name)
        try:
            raw = read_bytes(file, display, MAX_MIGRATION_BYTES, root=inside)
            text = decode(raw, display)
        except SchemacError as exc:
            found.extend(exc.diagnostics)
            continue
        if entry is not None:
            state, checksum = published_state(entry, raw, specs=False), entry.sha256
        else:
            state, checksum = adopted_state(adopted[file.name], raw), adopted[file.name].sha256
        if verify and state is not Published.INTACT:
            found.append(_finding(state, display, entry))
            continue
        migrations.append(
            Migration(
                int(match.group("version")),
                match.group("slug"),
                text,
                checksum if verify else sha256_hex(raw),  # verified: the file hashes to what the manifest says
                file.name,
                entry.non_idempotent if entry is not None else (),
            )
        )
    found += [_finding(Published.MISSING, f"{shown}/{e.file}", e) for e in manifest.entries if e.file not in seen]
    found += [_finding(Published.ADOPTED_MISSING, f"{shown}/{a.file}") for a in manifest.adopted if a.file not in seen]
    if found:
        raise SchemacError(found)
    migrations.sort(key=lambda m: m.version)
    return migrations


def _finding(state: Published, shown: str, entry: ManifestEntry | None = None) -> Diagnostic:
    drift = classify(state, shown, entry)
    assert drift is not None
    return drift.diagnostic
