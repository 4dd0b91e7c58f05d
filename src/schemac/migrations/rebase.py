"""Renumbering this branch's new versions above a base's published ones: ``schemac rebase``.

When two branches both add version 7, ``manifest.json`` conflicts. The base (``--onto``, else what an
unfinished ``git rebase`` replays onto, else the branch's upstream when it tracks another branch,
else ``main``, else ``origin/main``) keeps its specs, migrations and manifest exactly as committed
there. Every spec and raw SQL step of this branch that the base does not have, and that is numbered
at or below the base's newest version, moves above it, in order and in the style of that version's
prefix (``0007`` → ``0008``, ``20251110`` → ``20251111``); a later one moves only as far as needed to
stay in order. The moved versions' migration files are removed, to be built again.

:func:`plan_rebase` works everything out and changes nothing; :func:`carry_out` makes the changes
in an order that ``rebase`` run again (or ``build``) finishes whenever it stops.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail
from schemac.migrations.git import Repository
from schemac.migrations.manifest import MANIFEST_NAME, Manifest, parse_manifest
from schemac.migrations.published import present, read_migration
from schemac.project.compiler import SpecFile, discover
from schemac.project.files import publish, write_atomic
from schemac.project.inputs import MAX_MANIFEST_BYTES, MAX_MIGRATION_BYTES, MAX_SPEC_BYTES, read_bytes
from schemac.project.settings import Settings
from schemac.project.steps import STEP_NAME, RawStep, discover_steps
from schemac.spec.source import SPEC_NAME

DEFAULT_BASES = ("main", "origin/main")
"""The bases tried, in order, when ``--onto`` is not given and no ``git rebase`` is under way and the
branch has no upstream of its own."""


@dataclass(frozen=True)
class Rebase:
    """What ``schemac rebase`` changes, worked out before anything is touched."""

    onto: str  # the base as shown: the ref given, or an abbreviated commit id
    moves: tuple[tuple[Path, Path], ...]  # spec or step file: from → to
    taken: tuple[tuple[Path, bytes], ...]  # the base's files written as they are (specs, migrations, manifests)
    removed: tuple[Path, ...]  # the moved versions' migration files (and a manifest the base has not)


def _refuse(file: str, code: str, message: str, hint: str) -> SchemacError:
    """Bad input (a ref that names nothing, a project outside the repository): exit 2, as for ``check --base``."""
    return fail(file, 1, 1, code, message, hint)


def base_commit(repository: Repository, onto: str | None) -> tuple[str, str]:
    """(the base as shown, its commit id): ``onto``, else the commit an unfinished ``git rebase`` replays
    onto, else the branch's upstream when it tracks another branch, else the first of :data:`DEFAULT_BASES`."""
    if onto is not None:
        commit = repository.commit(onto)
        if commit is None:
            raise _refuse(
                "--onto", "SC517", f"git ref '{onto}' does not name a commit", "fetch it, or pass a branch, tag or SHA"
            )
        return onto, commit
    branch, upstream = repository.branch(), repository.upstream()
    own = branch is not None and upstream is not None and (upstream == branch or upstream.endswith(f"/{branch}"))
    candidates = ([upstream] if upstream is not None and not own else []) + list(DEFAULT_BASES)
    found = ((ref, repository.commit(ref)) for ref in candidates)
    named = [(ref, commit) for ref, commit in found if commit is not None]
    replayed = repository.rebase_onto()
    if replayed is not None:  # shown by a name when one of the candidates names it
        return next((ref for ref, commit in named if commit == replayed), repository.short(replayed)), replayed
    if named:
        return named[0]
    raise _refuse(
        "--onto",
        "SC517",
        "no base to rebase onto: no git rebase is under way, the branch tracks no other branch, "
        f"and neither {' nor '.join(DEFAULT_BASES)} exists",
        "pass --onto REF",
    )


class _Base:
    """The base commit's files, read through ``repository`` on demand."""

    def __init__(self, repository: Repository, top: Path, commit: str, shown: str) -> None:
        self.repository, self.top, self.commit, self.shown = repository, top, commit, shown

    def within(self, directory: Path, display: str) -> str:
        try:
            return directory.resolve().relative_to(self.top).as_posix()
        except ValueError:
            raise _refuse(
                display, "SC516", f"'{display}' is outside the git repository", "run it in the project's checkout"
            ) from None

    def read(self, directory: str, names: Iterable[str]) -> dict[str, bytes]:
        """The bytes of each of ``names`` in ``directory`` at the base (those it has), each within its limit."""
        listed = self.repository.files(self.commit, directory)
        wanted = {name: listed[name] for name in names if name in listed}
        for name, (_, size) in wanted.items():
            limit = _limit(name)
            if size > limit:
                raise _refuse(
                    f"{self.shown}:{directory}/{name}",
                    "SC101",
                    f"file is {size} bytes, over the limit of {limit} bytes",
                    "",
                )
        blobs = self.repository.blobs(sorted({blob for blob, _ in wanted.values()}))
        return {name: blobs[blob] for name, (blob, _) in wanted.items()}

    def names(self, directory: str) -> set[str]:
        return set(self.repository.files(self.commit, directory))


def _limit(name: str) -> int:
    """The size limit of a file of the specs or migrations directory."""
    if name == MANIFEST_NAME:
        return MAX_MANIFEST_BYTES
    return MAX_MIGRATION_BYTES if name.endswith(".sql") else MAX_SPEC_BYTES


def _numbered(name: str) -> tuple[int, str] | None:
    """(version, prefix) of a spec or raw SQL step file name, or ``None`` for any other name."""
    match = SPEC_NAME.fullmatch(name) or STEP_NAME.fullmatch(name)
    return (int(match["version"]), match["version"]) if match is not None else None


def _holds(path: Path, data: bytes, settings: Settings, *, extended: bool) -> bool:
    """Whether ``path`` holds the base's ``data`` already: the same bytes or, for a manifest and when
    ``extended``, the base's with only later versions added (a branch rebased and built before)."""
    here = read_migration(path, settings)
    if here == data or here is None or path.name != MANIFEST_NAME or not extended:
        return here == data
    try:
        mine = parse_manifest(here, settings.relative(path))
    except SchemacError:
        return False  # conflict markers, or anything else that is not a manifest: the base's is taken
    base = parse_manifest(data, settings.relative(path))
    return dataclasses.replace(mine, entries=mine.entries[: len(base.entries)]) == base


def plan_rebase(settings: Settings, onto: str | None = None) -> Rebase:
    """Everything ``rebase`` would change, or SC535 when a spec the base published differs here; changes nothing."""
    specs_shown = settings.relative(settings.specs_dir)
    repository = Repository(settings.root, specs_shown)
    top = repository.top()
    shown, commit = base_commit(repository, onto)
    base = _Base(repository, top, commit, shown)
    manifests, taken = _base_migrations(settings, base)

    published = {
        Path(spec).name
        for manifest in manifests.values()
        if manifest is not None
        for spec in [*(e.spec for e in manifest.entries), *([manifest.baseline.spec] if manifest.baseline else [])]
        if settings.relative(settings.specs_dir / Path(spec).name) == spec
    }
    specs_at = base.within(settings.specs_dir, specs_shown)
    base_names = {name for name in base.names(specs_at) if _numbered(name) is not None}
    here: list[SpecFile | RawStep] = [*discover(settings)[0], *discover_steps(settings)[0]]
    names_here = {file.path.name for file in here}
    base_specs = base.read(specs_at, sorted((names_here | published) & base_names))
    refused = [
        Diagnostic(
            file.display,
            1,
            1,
            "SC535",
            f"was published at {shown} and differs here: rebase never changes what the base published",
            f"restore it (git checkout {shown} -- {file.display}) and put this branch's change in a new spec",
        )
        for file in here
        if file.path.name in published
        and read_bytes(file.path, file.display, _limit(file.path.name), root=settings.root)
        != base_specs.get(file.path.name)
    ]
    if refused:
        raise SchemacError(refused, EXIT_FINDINGS)

    numbered = [found for name in base_names if (found := _numbered(name)) is not None]
    for manifest in manifests.values():
        newest = manifest.newest() if manifest is not None else None
        if newest is not None:
            numbered.append((newest[0], Path(newest[1]).name.split("_", 1)[0]))
    moves, removed = _renumbered(
        [f for f in here if f.path.name not in base_names], max(numbered, default=None), manifests
    )
    restored = [(settings.specs_dir / n, base_specs[n]) for n in sorted(published - names_here) if n in base_specs]
    taken = restored + [(path, data) for path, data in taken if not _holds(path, data, settings, extended=not moves)]
    return Rebase(shown, tuple(moves), tuple(taken), tuple(removed))


def _base_migrations(settings: Settings, base: _Base) -> tuple[dict[Path, Manifest | None], list[tuple[Path, bytes]]]:
    """Each output directory's manifest at the base (``None`` where it has none), and the base's files
    there: the manifest and every file it lists."""
    manifests: dict[Path, Manifest | None] = {}
    files: list[tuple[Path, bytes]] = []
    for dialect in settings.dialects:
        directory = settings.output_dir(dialect)
        where = base.within(directory, settings.relative(directory))
        raw = base.read(where, [MANIFEST_NAME]).get(MANIFEST_NAME)
        manifest = parse_manifest(raw, f"{base.shown}:{where}/{MANIFEST_NAME}") if raw is not None else None
        manifests[directory] = manifest
        listed = [e.file for e in manifest.entries] + [a.file for a in manifest.adopted] if manifest else []
        found = base.read(where, listed) | ({MANIFEST_NAME: raw} if raw is not None else {})
        files += [(directory / name, data) for name, data in sorted(found.items())]
    return manifests, files


def _renumbered(
    ours: list[SpecFile | RawStep], newest: tuple[int, str] | None, manifests: dict[Path, Manifest | None]
) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """The moves of this branch's files ``ours`` (a step's files per dialect share their version) above
    ``newest`` (version, prefix) in order and in its prefix's width, and the moved versions' migration files."""
    grouped: dict[tuple[int, str, str], list[Path]] = {}
    for file in ours:
        grouped.setdefault((file.version, file.prefix, file.slug), []).append(file.path)
    newest_version, style = newest if newest is not None else (-1, "0000")
    moves: list[tuple[Path, Path]] = []
    removed: list[Path] = []
    following = newest_version + 1
    for (version, prefix, slug), paths in sorted(grouped.items()):
        target = max(version, following)
        following = target + 1
        if target == version:
            continue
        moves += [(p, p.with_name(f"{target:0{len(style)}d}{p.name[len(prefix) :]}")) for p in sorted(paths)]
        for directory, manifest in manifests.items():
            built = f"{prefix}_{slug}.sql"
            recorded = {e.file for e in manifest.entries} | {a.file for a in manifest.adopted} if manifest else set()
            if built not in recorded and present(directory / built):
                removed.append(directory / built)
    if moves:  # the manifest of a dialect the base never built lists only this branch's versions
        removed += [d / MANIFEST_NAME for d, m in manifests.items() if m is None and present(d / MANIFEST_NAME)]
    return moves, removed


def carry_out(settings: Settings, rebase: Rebase) -> None:
    """Make ``rebase``'s changes: the base's files first (each written atomically, the migrations in one
    swap), then the moved versions' old migration files removed, then each spec renamed, the last first.

    Stopped anywhere, ``rebase`` run again works out the same end state, as ``build`` does once the
    renames are done.
    """
    migrations = {
        path.relative_to(settings.migrations_dir).as_posix(): data
        for path, data in rebase.taken
        if path.is_relative_to(settings.migrations_dir)
    }
    for path, data in rebase.taken:
        if not path.is_relative_to(settings.migrations_dir):
            write_atomic(path, data)
    if migrations:
        publish(settings.migrations_dir, migrations, settings.relative(settings.migrations_dir))
    for path in rebase.removed:
        path.unlink(missing_ok=True)
    for old, new in sorted(rebase.moves, key=lambda move: int(move[1].name.split("_", 1)[0]), reverse=True):
        os.rename(old, new)  # each target is above every version still to move, and above every other file's
