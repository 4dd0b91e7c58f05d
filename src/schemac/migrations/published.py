"""Where a project's published migrations lie, read as every project file is, and how each version stands.

A dialect's files go in its output directory: ``migrations/`` when the project builds one dialect,
``migrations/<dialect>/`` when it builds several. After the number of dialects changed, the
published files lie in the other layout's directory until a build moves them (:func:`locate`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from schemac.errors import Diagnostic, SchemacError
from schemac.migrations.manifest import (
    MANIFEST_NAME,
    Amendment,
    Manifest,
    Published,
    adopted_state,
    as_published,
    parse_manifest,
    published_state,
)
from schemac.project.inputs import MAX_MANIFEST_BYTES, MAX_MIGRATION_BYTES, read_bytes

if TYPE_CHECKING:  # not imported at run time: the loader (apply, status) must not pay for the compiler
    from schemac.project.compiler import Output
    from schemac.project.settings import Settings


def present(path: Path) -> bool:
    """Whether ``path`` names anything, a dangling symlink included (reading it then says what is wrong)."""
    return path.exists() or path.is_symlink()


def read_manifest(directory: Path, settings: Settings) -> Manifest | None:
    """The manifest in ``directory``, or ``None`` when there is none."""
    path = directory / MANIFEST_NAME
    if not present(path):
        return None
    display = settings.relative(path)
    return parse_manifest(read_bytes(path, display, MAX_MANIFEST_BYTES, root=settings.root), display)


def read_migration(path: Path, settings: Settings) -> bytes | None:
    """A migration file's bytes, read as every project file is; ``None`` when there is no such file."""
    if not present(path):
        return None
    return read_bytes(path, settings.relative(path), MAX_MIGRATION_BYTES, root=settings.root)


@dataclass(frozen=True)
class PublishedFiles:
    """One dialect's published migrations as they lie on disk.

    ``directory`` holds them: the dialect's output directory or, until a build moves them there, the
    other layout's directory (``migrations/`` for a project that went from one dialect to several,
    ``migrations/<dialect>/`` the other way). ``stale`` is that other directory whenever it holds a
    manifest of this dialect, and ``stale_manifest`` that manifest.
    """

    directory: Path
    manifest: Manifest | None
    stale: Path | None = None
    stale_manifest: Manifest | None = None

    @property
    def moving(self) -> bool:
        """Whether the published files lie only in the other layout (the next build moves them)."""
        return self.stale is not None and self.stale == self.directory


def locate(settings: Settings, dialect: str) -> PublishedFiles:
    """Where ``dialect``'s published migrations are: its output directory, or the other layout's when only
    that one holds a manifest of this dialect (a manifest of another dialect there is not this one's)."""
    here = settings.output_dir(dialect)
    manifest = read_manifest(here, settings)
    other = settings.other_layout_dir(dialect)
    old = read_manifest(other, settings)
    if old is None or old.dialect != dialect:
        return PublishedFiles(here, manifest)
    if manifest is None:
        return PublishedFiles(other, old, other, old)
    return PublishedFiles(here, manifest, other, old)


def states(
    output: Output, published: PublishedFiles, settings: Settings
) -> tuple[dict[str, Published], list[Diagnostic]]:
    """How each version the manifest lists stands (:func:`~schemac.migrations.manifest.published_state`) and each
    adopted file (:func:`~schemac.migrations.manifest.adopted_state`), by file, and why a file could not be read."""
    found: dict[str, Published] = {}
    unreadable: list[Diagnostic] = []
    generated = output.manifest.by_file()
    manifest = published.manifest
    state_of: list[tuple[str, Callable[[bytes | None], Published]]] = []
    if manifest is not None:
        state_of += [
            (e.file, functools.partial(published_state, e, generated=generated.get(e.file))) for e in manifest.entries
        ]
        state_of += [(a.file, functools.partial(adopted_state, a)) for a in manifest.adopted]
    for file, classify in state_of:
        try:
            found[file] = classify(read_migration(published.directory / file, settings))
        except SchemacError as exc:
            unreadable.extend(exc.diagnostics)
    return found, unreadable


def first_amended(published: PublishedFiles, amend: bool | int) -> int | None:
    """The first published version a build renders again: none (``False``), the newest (``True``, the bare
    ``build --amend``) or version ``amend`` and every later one (``build --amend VERSION``)."""
    if amend is False:
        return None
    if amend is True:
        entries = published.manifest.entries if published.manifest else ()
        return entries[-1].version if entries else None
    return amend


@dataclass(frozen=True)
class AmendNote:
    """What the manifest records of a ``build --amend VERSION``: why, the databases asked (by name), and
    whether the user said that no database of the engine is known."""

    reason: str
    databases: tuple[str, ...]
    unverified: tuple[str, ...] = ()
    no_known_database: bool = False


def expected_manifest(
    output: Output, published: PublishedFiles, amend: bool | int, note: AmendNote | None = None
) -> tuple[Manifest, frozenset[str]]:
    """The manifest a build writes, and the files it keeps as published: every listed version that a
    spec still gives keeps its entry and file, except those :func:`first_amended` renders again; with
    ``note``, each of those that changes gets an amendment record."""
    manifest = published.manifest
    recorded = manifest.by_file() if manifest else {}
    first = first_amended(published, amend)
    entries = []
    kept = set()
    amendments = list(manifest.amendments) if manifest else []
    for entry in output.manifest.entries:
        old = recorded.get(entry.file)
        if old is not None and (first is None or entry.version < first):
            entry = as_published(entry, old)
            kept.add(entry.file)
        elif (
            note is not None and old is not None and (old.sha256, old.spec_sha256) != (entry.sha256, entry.spec_sha256)
        ):
            rewritten = old.sha256 != entry.sha256
            asked, left = (note.databases, note.unverified) if rewritten else ((), ())
            unknown = rewritten and note.no_known_database
            amendments.append(
                Amendment(entry.version, entry.file, old.sha256, entry.sha256, note.reason, asked, left, unknown)
            )
        entries.append(entry)
    adopted = manifest.adopted if manifest else ()
    behaviours = output.manifest.behaviours
    return Manifest(
        output.dialect, tuple(entries), adopted, output.manifest.baseline, tuple(amendments), behaviours=behaviours
    ), frozenset(kept)


def unaccounted(output: Output, published: PublishedFiles) -> list[Path]:
    """The ``.sql`` files in the output directory (and in the other layout's, while the published files
    still lie there) that the manifest neither lists nor records as adopted, and that no spec produces."""
    manifest = published.manifest
    listed = {e.file for e in manifest.entries} | {a.file for a in manifest.adopted} if manifest else set()
    found = []
    for directory, known in (
        (output.directory, set(output.manifest.by_file()) | (listed if not published.moving else set())),
        *([(published.directory, listed)] if published.moving else []),
    ):
        found += [p for p in sorted(directory.glob("*.sql"), key=lambda p: p.name) if p.name not in known]
    return found


def remove_stale(directory: Path, settings: Settings) -> list[str]:
    """Remove the other layout's files once the output directory holds them: the ``.sql`` files first and
    the manifest last, so that whatever an interruption leaves is still named by its manifest."""
    removed = []
    for path in [*sorted(directory.glob("*.sql")), directory / MANIFEST_NAME]:
        path.unlink(missing_ok=True)
        removed.append(settings.relative(path))
    if directory != settings.migrations_dir:
        with contextlib.suppress(OSError):  # it holds something else: left as it is
            directory.rmdir()
    return removed
