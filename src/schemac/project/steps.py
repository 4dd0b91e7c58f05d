"""Raw SQL steps: hand-written files in ``specs/`` that take a place in the version sequence.

``specs/<version>_<slug>.sql`` (``specs/<version>_<slug>.<dialect>.sql`` when the project builds
several dialects, one file per dialect that needs the step) is copied byte for byte to
``migrations/<version>_<slug>.sql`` and recorded in the manifest, its SHA-256 as both the file's and
the spec's: backfills, seed rows and bootstrap data go here. A step changes no schema (schema
changes belong in YAML), so the schema fingerprint after it is the one before it;
:mod:`schemac.migrations.replay` runs it in a scratch database to hold it to that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from schemac.errors import Diagnostic, SchemacError
from schemac.migrations.manifest import MAX_VERSION, ManifestEntry, sha256_hex
from schemac.project.inputs import MAX_MIGRATION_BYTES, decode, read_bytes
from schemac.project.settings import Settings

STEP_NAME = re.compile(r"(?P<version>[0-9]+)_(?P<slug>[a-z0-9_]+)(?:\.(?P<dialect>[a-z]+))?\.sql")


@dataclass(frozen=True)
class RawStep:
    path: Path
    display: str
    version: int
    prefix: str
    slug: str
    dialect: str | None  # None: the step of every dialect (the project builds one)
    root: Path | None = None
    """The project root (resolved): the step is read only if it really lies inside it."""

    @property
    def file(self) -> str:
        """Its file in the migrations directory."""
        return f"{self.prefix}_{self.slug}.sql"


def discover_steps(settings: Settings) -> tuple[list[RawStep], list[Diagnostic]]:
    """The raw SQL steps in ``specs/`` in version order, and why a ``.sql`` file there is not one."""
    steps: list[RawStep] = []
    found: list[Diagnostic] = []
    if not settings.specs_dir.is_dir():
        return steps, found
    several = len(settings.dialects) > 1
    for path in sorted(settings.specs_dir.glob("*.sql"), key=lambda p: p.name):
        shown = settings.relative(path)
        match = STEP_NAME.fullmatch(path.name)
        dialect = match.group("dialect") if match else None
        if match is None or (dialect is not None and dialect not in settings.dialects) or (several and dialect is None):
            expected = "<version>_<slug>.<dialect>.sql" if several else "<version>_<slug>.sql"
            dialects = ", ".join(settings.dialects)
            found.append(
                Diagnostic(
                    shown,
                    1,
                    1,
                    "SC112",
                    f"raw SQL step '{path.name}' does not match {expected}",
                    f"name it like 0005_backfill_titles{'.' + settings.dialects[0] if several else ''}.sql "
                    f"(slug: a-z, 0-9, _; dialects: {dialects})",
                )
            )
            continue
        version = int(match.group("version"))
        if version > MAX_VERSION:
            found.append(
                Diagnostic(
                    shown,
                    1,
                    1,
                    "SC119",
                    f"version {version} is larger than {MAX_VERSION}, the largest every engine and loader holds",
                    "number versions like 0001 or 2026112401",
                )
            )
            continue
        steps.append(RawStep(path, shown, version, match.group("version"), match.group("slug"), dialect, settings.root))
    steps.sort(key=lambda s: (s.version, s.display))
    return steps, found


def step_files(steps: Sequence[RawStep], dialect: str) -> list[tuple[str, bytes, ManifestEntry]]:
    """``dialect``'s steps as (file, bytes, manifest entry without a schema fingerprint): each file's bytes
    are its step's, read as every project file is (UTF-8 without a byte-order mark, as the loader hashes)."""
    files = []
    found: list[Diagnostic] = []
    for step in steps:
        if step.dialect not in (None, dialect):
            continue
        try:
            data = read_bytes(step.path, step.display, MAX_MIGRATION_BYTES, root=step.root)
            decode(data, step.display)
        except SchemacError as exc:
            found.extend(exc.diagnostics)
            continue
        digest = sha256_hex(data)
        files.append(
            (step.file, data, ManifestEntry(step.version, step.slug, step.file, digest, step.display, digest, ""))
        )
    if found:
        raise SchemacError(found)
    return files
