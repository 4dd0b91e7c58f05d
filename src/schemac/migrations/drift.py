"""Drift: how the migration files on disk differ from what their manifest records and the specs give.

:func:`classify` is the one place that turns a file's state (:class:`~schemac.migrations.manifest.Published`)
into its finding, one wording per code: ``build`` refuses on it (:func:`build_refusals`), ``check``
lists it (:func:`check_dialect`), and the loader (``apply``, ``status``, ``load_migrations``) refuses on it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemac.errors import Diagnostic, SchemacError
from schemac.migrations import history
from schemac.migrations.manifest import MANIFEST_NAME, ManifestEntry, Published
from schemac.migrations.published import (
    PublishedFiles,
    expected_manifest,
    first_amended,
    locate,
    present,
    read_migration,
    states,
    unaccounted,
)
from schemac.migrations.replay import replay_findings

if TYPE_CHECKING:  # not imported at run time: the loader (apply, status) must not pay for the compiler
    from schemac.project.compiler import Output
    from schemac.project.settings import Settings

HINT_RESTORE = "restore it from version control"
HINT_RESTORE_AND_FOLLOW_UP = "restore it from version control; change the schema with a follow-up spec"
HINT_RESTORE_SPEC = "restore the spec; drop tables in a follow-up spec instead"
HINT_REMOVE_OR_ADD_SPEC = (
    "remove it, add the spec that produces it, or record a hand-written file with 'schemac adopt'; "
    "new hand-written SQL goes in specs/ as a raw SQL step"
)
HINT_RESTORE_AND_STEP = (
    "restore it from version control; change the data with a raw SQL step (specs/<version>_<slug>.sql) "
    "and the schema with a follow-up spec"
)
HINT_REVERT_SPEC = (
    "revert the spec and write a follow-up spec (schemac new <slug>); "
    "only the newest version may change, with build --amend"
)

MANIFEST_EDITED = frozenset({"SC504", "SC505", "SC506"})
"""Manifest findings that mean the manifest was edited (not that it could not be read): drift, for ``check``."""


@dataclass(frozen=True)
class Drift:
    """One difference between what the specs give and what is on disk."""

    diagnostic: Diagnostic
    kind: str  # added | edited | removed | stale | history | replayed | kept (a warning: kept as published)
    diff: str = ""


def classify(
    state: Published,
    shown: str,
    entry: ManifestEntry | None = None,
    *,
    line: int = 1,
    diff: str = "",
    newest: bool = False,
) -> Drift | None:
    """The finding for a migration file in ``state``, or ``None`` when it is intact.

    ``shown`` is the file as findings name it and ``entry`` what its manifest records (every state but
    ``UNLISTED`` has one; the spec states need it). ``line`` and ``diff`` say where and how an edited file
    differs from what the specs give; ``newest``, whether the version is the newest published (a version
    kept as published can then be rendered again with ``build --amend``).
    """
    if state is Published.INTACT:
        return None
    if state is Published.UNLISTED:
        diagnostic = Diagnostic(
            shown, 1, 1, "SC503", "added: migration file is not produced by any spec", HINT_REMOVE_OR_ADD_SPEC
        )
        return Drift(diagnostic, "added")
    if state is Published.MISSING:
        diagnostic = Diagnostic(shown, 1, 1, "SC502", "removed: published migration is missing", HINT_RESTORE)
        return Drift(diagnostic, "removed")
    if state is Published.ADOPTED_MISSING:
        diagnostic = Diagnostic(shown, 1, 1, "SC521", "removed: adopted hand-written file is missing", HINT_RESTORE)
        return Drift(diagnostic, "removed")
    if state is Published.ADOPTED_EDITED:
        message = "edited: adopted hand-written file differs from the SHA-256 that schemac adopt recorded"
        return Drift(Diagnostic(shown, line, 1, "SC520", message, HINT_RESTORE_AND_STEP), "edited", diff)
    if state is Published.EDITED:
        message = "edited: file differs from its SHA-256 in the manifest"
        return Drift(Diagnostic(shown, line, 1, "SC501", message, HINT_RESTORE_AND_FOLLOW_UP), "edited", diff)
    assert entry is not None, state
    if state is Published.SPEC_REMOVED:
        message = f"removed: spec of published migration {shown} was removed"
        return Drift(Diagnostic(entry.spec, 1, 1, "SC502", message, HINT_RESTORE_SPEC), "removed")
    if state is Published.SPEC_CHANGED:
        message = f"edited: spec changed after it was published as {shown} (manifest entry for version {entry.version})"
        return Drift(Diagnostic(entry.spec, 1, 1, "SC510", message, HINT_REVERT_SPEC), "edited", diff)
    assert state is Published.RENDERED_DIFFERENTLY, state
    hint = "nothing to do; new versions use the new rendering" + (
        ", and build --amend renders this newest version again while it has not left your branch" if newest else ""
    )
    message = (
        f"kept as published: this schemac renders version {entry.version} differently "
        "(schemac or a template changed since it was published)"
    )
    return Drift(Diagnostic(shown, 1, 1, "SC511", message, hint, "warning"), "kept")


def build_refusals(
    output: Output, published: PublishedFiles, found: dict[str, Published], settings: Settings, amend: bool | int
) -> list[Diagnostic]:
    """Why writing ``output`` would rewrite or contradict what is published (``found``: each listed version's
    state; a version kept as published, or one ``amend`` renders again, is no reason), or would leave a stale
    layout that differs from it."""
    problems: list[Diagnostic] = []
    entries = published.manifest.entries if published.manifest else ()
    first = first_amended(published, amend)
    for entry in entries:
        state = found.get(entry.file)  # None: it could not be read, which is reported already
        if state is None or (state is Published.SPEC_CHANGED and first is not None and entry.version >= first):
            continue
        shown, line = settings.relative(published.directory / entry.file), 1
        if state is Published.EDITED:  # located as check locates it
            edited = read_migration(published.directory / entry.file, settings) or b""
            line = _difference(shown, edited, output.files.get(entry.file))[0]
        drift = classify(state, shown, entry, line=line)
        if drift is not None and drift.kind != "kept":
            problems.append(drift.diagnostic)
    for adopted in published.manifest.adopted if published.manifest else ():
        state = found.get(adopted.file)
        drift = classify(state, settings.relative(published.directory / adopted.file)) if state else None
        if drift is not None:
            problems.append(drift.diagnostic)
    problems += numbering_problems(output, published).values()
    problems += [drift.diagnostic for drift in baseline_problems(output, published, amend is True)]
    if not problems:  # replaying what cannot be written would say the same again
        problems += [d for d in replay_findings(output, published, settings) if d.severity == "error"]
    for path in unaccounted(output, published):
        added = classify(Published.UNLISTED, settings.relative(path))
        assert added is not None
        problems.append(added.diagnostic)
    pinned = _pinned_layout(output, published, settings)
    if pinned is not None:
        problems.append(pinned)
    elif published.stale is not None and not published.moving:
        leftover = _leftover_problem(output, published, settings)
        if leftover is not None:
            problems.append(leftover)
    return problems


def baseline_problems(output: Output, published: PublishedFiles, amend: bool = False) -> list[Drift]:
    """How the baseline the specs give differs from the one the manifest records: a baseline is the
    starting state of every generated version, so it comes before the first one and changes only with
    ``amend`` while no version is published after it."""
    manifest = published.manifest
    recorded = manifest.baseline if manifest else None
    given = output.manifest.baseline
    if given is None:
        if recorded is None:
            return []
        message = f"removed: the baseline spec {recorded.spec} was removed"
        return [
            Drift(
                Diagnostic(recorded.spec, 1, 1, "SC502", message, "restore it: it is where every version starts"),
                "removed",
            )
        ]
    if recorded is not None:
        unpublished = manifest is not None and not manifest.entries
        if (recorded.spec, recorded.spec_sha256) == (given.spec, given.spec_sha256) or (amend and unpublished):
            return []
        message = "edited: the baseline spec changed after it was published"
        hint = (
            "while no version is published after it, build --amend records it again"
            if unpublished
            else "revert the spec: versions were planned from it; change its tables in a follow-up spec"
        )
        return [Drift(Diagnostic(given.spec, 1, 1, "SC510", message, hint), "edited")]
    found = []
    if manifest is not None and manifest.entries:
        found.append(
            Diagnostic(
                given.spec,
                1,
                1,
                "SC527",
                f"a baseline cannot be added once versions are published ({manifest.entries[0].file} is): "
                "they were planned without it",
                "describe tables made elsewhere in a baseline before the first generated version is published",
            )
        )
    for entry in output.manifest.entries:
        if entry.version < given.version:
            found.append(
                Diagnostic(
                    entry.spec,
                    1,
                    1,
                    "SC527",
                    f"version {entry.version} is below the baseline {given.version}: the baseline is the first "
                    "version after the adopted files",
                    f"number it above {given.version}",
                )
            )
    newest = max(manifest.adopted, key=lambda a: a.version) if manifest and manifest.adopted else None
    if newest is not None and given.version < newest.version:
        found.append(
            Diagnostic(
                given.spec,
                1,
                1,
                "SC527",
                f"the baseline is version {given.version}, below the adopted file {newest.file}: "
                "it describes the schema the adopted files leave",
                f"number the baseline spec {newest.version} or above",
            )
        )
    return [Drift(problem, "added") for problem in found]


def numbering_problems(output: Output, published: PublishedFiles) -> dict[str, Diagnostic]:
    """SC515, by file, for every version the specs give that the manifest does not list yet and that is
    numbered at or below the newest version it records (published, adopted or the baseline): a runner
    would skip it."""
    manifest = published.manifest
    newest = manifest.newest() if manifest else None
    if manifest is None or newest is None:
        return {}
    listed = {e.file for e in manifest.entries}
    return {
        entry.file: history.numbered_below(entry.spec, entry, newest)
        for entry in output.manifest.entries
        if entry.file not in listed and entry.version <= newest[0]
    }


def check_dialect(output: Output, settings: Settings, base: str | None, allow_amendments: bool = False) -> list[Drift]:
    """``check`` for one dialect: its history against ``base`` (each amendment since a warning with
    ``allow_amendments``, else an error), its layout, each published version's
    state, then every other file the specs give (the manifest as a build would write it) or that lies there."""
    try:
        published = locate(settings, output.dialect)
    except SchemacError as exc:
        if not {d.code for d in exc.diagnostics} <= MANIFEST_EDITED:
            raise
        # An edited manifest is drift, as an edited file is; since what it published cannot be told, it is all
        # that is said about this dialect.
        return [Drift(d, "edited") for d in exc.diagnostics]
    drift: list[Drift] = []
    if base is not None:
        display = settings.relative(published.directory / MANIFEST_NAME)
        layouts = (output.directory, settings.other_layout_dir(output.dialect))
        manifest = published.manifest
        rewrites = history.check_base(settings.root, layouts, output.dialect, manifest, base, display, allow_amendments)
        drift += [Drift(problem, "history") for problem in rewrites]
    if published.stale is not None:
        pinned = _pinned_layout(output, published, settings)
        drift.append(Drift(pinned or _stale_layout(output, published, settings), "stale"))
    found, unreadable = states(output, published, settings)
    if unreadable:
        raise SchemacError(unreadable)
    manifest, _ = expected_manifest(output, published, amend=False)
    misnumbered = numbering_problems(output, published)
    drift += [Drift(problem, "added") for problem in misnumbered.values()]
    drift += baseline_problems(output, published)
    drift += [Drift(d, "replayed") for d in replay_findings(output, published, settings)]
    recorded = published.manifest.by_file() if published.manifest else {}
    adopted = published.manifest.adopted_by_file() if published.manifest else {}
    newest = published.manifest.entries[-1].file if published.manifest and published.manifest.entries else None
    here = output.directory
    on_disk = {p.name for p in here.glob("*.sql")} if here.is_dir() else set()
    if present(here / MANIFEST_NAME):
        on_disk.add(MANIFEST_NAME)
    extra = {path.name: path for path in unaccounted(output, published)}
    for name in sorted(on_disk | set(output.files) | set(recorded) | set(extra) | set(adopted)):
        if name in adopted:  # only its SHA-256 is recorded, so where it was edited cannot be told
            listed = classify(found[name], settings.relative(published.directory / name))
            if listed is not None:
                drift.append(listed)
            continue
        if name in recorded:
            path = published.directory / name
            shown = settings.relative(path)
            line, diff = 1, ""
            if found[name] in (Published.EDITED, Published.SPEC_CHANGED):
                line, diff = _difference(shown, read_migration(path, settings) or b"", output.files.get(name))
            listed = classify(found[name], shown, recorded[name], line=line, diff=diff, newest=name == newest)
            if listed is not None:
                drift.append(listed)
        if name in extra:
            added = classify(Published.UNLISTED, settings.relative(extra[name]))
            assert added is not None
            drift.append(added)
        if name in recorded or name in extra or (name == MANIFEST_NAME and published.moving):
            continue  # said above (a moving manifest: by the stale layout's finding)
        path = here / name
        shown = settings.relative(path)
        if name not in on_disk:
            if name in misnumbered:
                continue  # said above: building it would be refused
            diag = Diagnostic(
                shown, 1, 1, "SC507", "missing: the specs produce this file but it was not built", "run 'schemac build'"
            )
            drift.append(Drift(diag, "stale"))
            continue
        if name == MANIFEST_NAME and misnumbered:
            continue  # it would list a version said above to be refused: SC515 is the one answer, as from build
        expected = manifest.to_text().encode("utf-8") if name == MANIFEST_NAME else output.files[name]
        data = read_migration(path, settings) or b""
        if data != expected:
            line, diff = _difference(shown, data, expected)
            diag = Diagnostic(
                shown,
                line,
                1,
                "SC507",
                "out of date: the specs give different content",
                "run 'schemac build' (a published spec must not change: write a follow-up)",
            )
            drift.append(Drift(diag, "stale", diff))
    return drift


def _pinned_layout(output: Output, published: PublishedFiles, settings: Settings) -> Diagnostic | None:
    """SC518 when the other layout's directory holds adopted files: they stay where the runner that applied
    them reads them, so the project cannot move to the other layout."""
    stale = published.stale_manifest
    if published.stale is None or stale is None or not stale.adopted:
        return None
    return Diagnostic(
        settings.relative(published.stale / MANIFEST_NAME),
        1,
        1,
        "SC518",
        f"stale layout: these {output.dialect} migrations include adopted hand-written files, which stay where "
        f"the runner that applied them reads them; {settings.layout} they would move to "
        f"{settings.relative(output.directory)}/",
        "keep the number of dialects the project had when it adopted them",
    )


def _leftover_problem(output: Output, published: PublishedFiles, settings: Settings) -> Diagnostic | None:
    """``None`` when the other layout's copy of this dialect matches the output directory file for file
    (what an interrupted move leaves: a build removes it), else why it cannot be removed."""
    assert published.stale is not None and published.stale_manifest is not None and published.manifest is not None
    current = published.manifest.by_file()
    same = all(
        (mine := current.get(e.file)) is not None
        and (mine.version, mine.sha256, mine.spec_sha256) == (e.version, e.sha256, e.spec_sha256)
        for e in published.stale_manifest.entries
    ) and all(
        read_migration(path, settings) == read_migration(published.directory / path.name, settings)
        for path in sorted(published.stale.glob("*.sql"))
    )
    if same:
        return None
    here = settings.relative(output.directory) + "/"
    return Diagnostic(
        settings.relative(published.stale / MANIFEST_NAME),
        1,
        1,
        "SC518",
        f"stale layout: these {output.dialect} migrations differ from those in {here}, "
        f"where they belong {settings.layout}",
        "keep one set: remove the one you do not publish, then run 'schemac build'",
    )


def _stale_layout(output: Output, published: PublishedFiles, settings: Settings) -> Diagnostic:
    """``check``'s finding for a dialect whose migrations (also) lie in the other layout's directory."""
    assert published.stale is not None
    here = settings.relative(output.directory) + "/"
    shown = settings.relative(published.stale / MANIFEST_NAME)
    if published.moving:
        return Diagnostic(
            shown,
            1,
            1,
            "SC518",
            f"stale layout: {output.dialect} migrations are published here, "
            f"but {settings.layout} they belong in {here}",
            "run 'schemac build': it moves the published files there unchanged",
        )
    return _leftover_problem(output, published, settings) or Diagnostic(
        shown,
        1,
        1,
        "SC518",
        f"stale layout: these {output.dialect} migrations are a copy of those in {here}, "
        f"where they belong {settings.layout}",
        "run 'schemac build': it removes the copy",
    )


def _first_difference(old: str, new: str) -> int:
    if old == new:
        return 1
    for number, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=False), 1):
        if a != b:
            return number
    return min(len(old.splitlines()), len(new.splitlines())) + 1


def _difference(shown: str, data: bytes, expected: bytes | None) -> tuple[int, str]:
    """The first line where ``data`` (on disk) differs from ``expected`` (from the specs), and the diff."""
    if expected is None:
        return 1, ""
    old, new = data.decode("utf-8", "replace"), expected.decode("utf-8")
    diff = "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"{shown} (on disk)", f"{shown} (from specs)")
    )
    return _first_difference(old, new), diff
