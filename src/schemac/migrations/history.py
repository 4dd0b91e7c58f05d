"""Published history against a git ref: ``check --base`` for CI on a branch.

Reads the manifest as it was at the ref with ``git show`` and reports every version that the
branch changed, removed or reordered, and every new version numbered at or below the ref's newest
(two branches that both added a version). A manifest the ref holds under the other layout
(``migrations/`` against ``migrations/<dialect>/``) is the same dialect's history.

A published file that ``build --amend VERSION`` rendered again is no rewrite when the amendments recorded
since the ref account for it; but a record proves nothing (anyone can write one), so each new amendment is
reported (SC537): an error, unless the reviewer allows amendments, then a warning.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from schemac.errors import Diagnostic, fail
from schemac.migrations.manifest import MANIFEST_NAME, Amendment, Manifest, ManifestEntry, parse_manifest
from schemac.project.inputs import MAX_MANIFEST_BYTES


def manifest_at(root: Path, ref: str, manifest: Path, display: str) -> Manifest | None:
    """The manifest at ``manifest`` as committed at ``ref``, or ``None`` when the ref has none (git is run
    as :class:`~schemac.migrations.git.Repository` runs it, imported here: the loader imports this
    module and never runs git)."""
    from schemac.migrations.git import Repository

    repository = Repository(root, display)
    top = repository.top()
    commit = repository.commit(ref)
    if commit is None:
        raise fail(
            display, 1, 1, "SC517", f"git ref '{ref}' does not name a commit", "fetch it, or pass a branch, tag or SHA"
        )
    try:
        path = manifest.resolve().relative_to(top)
    except ValueError:
        raise fail(display, 1, 1, "SC516", f"'{manifest}' is outside the git repository of '{root}'") from None
    listed = repository.files(commit, path.parent.as_posix()).get(path.name)
    if listed is None:
        return None
    blob, size = listed
    shown = f"{ref}:{path.as_posix()}"
    if size > MAX_MANIFEST_BYTES:
        raise fail(shown, 1, 1, "SC101", f"file is {size} bytes, over the limit of {MAX_MANIFEST_BYTES} bytes")
    return parse_manifest(repository.blobs([blob])[blob], shown)


def base_problems(
    base: Manifest, current: Manifest, ref: str, display: str, allow_amendments: bool = False
) -> list[Diagnostic]:
    """Every way ``current`` rewrites the history that ``base`` (the manifest at ``ref``) published, and
    each amendment recorded since (a warning with ``allow_amendments``)."""
    found: list[Diagnostic] = []
    now = current.by_file()
    listed = {e.file for e in base.entries}

    def finding(entry: ManifestEntry, code: str, message: str, hint: str) -> None:
        found.append(Diagnostic(display, 1, 1, code, f"version {entry.version} ({entry.file}) {message}", hint))

    for entry in base.entries:
        mine = now.get(entry.file)
        if mine is None:
            finding(
                entry,
                "SC512",
                f"was published at {ref} and is removed",
                f"restore it ('schemac rebase --onto {ref}' takes what {ref} published); "
                "write a follow-up spec instead",
            )
        elif (mine.sha256, mine.spec_sha256, mine.version) != (entry.sha256, entry.spec_sha256, entry.version) and not (
            mine.version == entry.version and amended_since(base, current, entry.file, entry.sha256, mine.sha256)
        ):
            finding(
                entry, "SC513", f"was changed since {ref}", "restore it from the base; write a follow-up spec instead"
            )
    if current.amendments[: len(base.amendments)] != base.amendments:
        found.append(
            Diagnostic(
                display, 1, 1, "SC513", f"the amendments recorded at {ref} were changed", "restore them from the base"
            )
        )
    else:
        found += [amended(a, ref, display, allow_amendments) for a in current.amendments[len(base.amendments) :]]
    kept = [e.file for e in current.entries if e.file in listed]
    if kept != [b.file for b in base.entries if b.file in now]:
        found.append(
            Diagnostic(
                display, 1, 1, "SC514", f"published versions are in another order than at {ref}", "restore the order"
            )
        )
    newest = base.newest()
    for entry in current.entries:
        if newest is not None and entry.file not in listed and entry.version <= newest[0]:
            found.append(numbered_below(display, entry, newest, ref))
    base_adopted = base.adopted_by_file()
    for adopted in current.adopted:
        if newest is not None and adopted.file not in base_adopted and adopted.version <= newest[0]:
            found.append(
                Diagnostic(
                    display,
                    1,
                    1,
                    "SC515",
                    f"adopted file {adopted.file} is new but numbered at or below {ref}'s newest version {newest[0]}",
                    f"renumber it above {newest[0]}, or write it as a raw SQL step in specs/",
                )
            )
    if base.baseline is not None and current.baseline is None:
        found.append(
            Diagnostic(
                display,
                1,
                1,
                "SC512",
                f"the baseline {base.baseline.spec} was recorded at {ref} and is removed",
                "restore it",
            )
        )
    elif base.baseline is not None and current.baseline != base.baseline:
        found.append(
            Diagnostic(
                display,
                1,
                1,
                "SC513",
                f"the baseline {base.baseline.spec} was changed since {ref}",
                "restore it from the base",
            )
        )
    kept_adopted = current.adopted_by_file()
    for adopted in base.adopted:
        now_adopted = kept_adopted.get(adopted.file)
        if now_adopted is None:
            found.append(
                Diagnostic(
                    display,
                    1,
                    1,
                    "SC512",
                    f"adopted file {adopted.file} was recorded at {ref} and is removed",
                    "restore it",
                )
            )
        elif now_adopted != adopted:
            found.append(
                Diagnostic(display, 1, 1, "SC513", f"adopted file {adopted.file} was changed since {ref}", "restore it")
            )
    return found


def amended_since(base: Manifest, current: Manifest, file: str, before: str, after: str) -> bool:
    """Whether the amendments ``current`` records after ``base``'s take ``file`` from SHA-256 ``before`` to
    ``after``, one after the other (``build --amend VERSION`` rendered it again)."""
    if current.amendments[: len(base.amendments)] != base.amendments:
        return False
    steps = [a for a in current.amendments[len(base.amendments) :] if a.file == file]
    sha = before
    for step in steps:
        if step.previous_sha256 != sha:
            return False
        sha = step.sha256
    return bool(steps) and sha == after


def amended(amendment: Amendment, ref: str, display: str, allowed: bool) -> Diagnostic:
    """SC537: ``amendment``, recorded since ``ref``, as a reviewer needs to see it (what it says is not proof)."""
    said = f"databases asked: {', '.join(amendment.databases) or 'none'}"
    said += f"; unverified: {', '.join(amendment.unverified) or 'none'}"
    said += "; no database of its engine known" if amendment.no_known_database else ""
    message = (
        f"version {amendment.version} ({amendment.file}) was amended since {ref}, for the reason "
        f"'{amendment.reason}' ({said})"
    )
    check = f"the record is no proof: make sure no database has applied version {amendment.version}"
    if allowed:
        return Diagnostic(display, 1, 1, "SC537", message, check, severity="warning")
    return Diagnostic(display, 1, 1, "SC537", message, f"{check}, then pass --allow-amendments")


def numbered_below(file: str, entry: ManifestEntry, newest: tuple[int, str], ref: str | None = None) -> Diagnostic:
    """SC515 at ``file``: ``entry``, a version the manifest does not list yet, is numbered at or below
    ``newest`` (version, file), the newest version recorded (at ``ref``, when given: another branch added
    versions there).

    ``build``, ``check`` and ``plan`` refuse it against the project's manifest, ``check --base`` against the ref's.
    """
    version, name = newest
    hint = f"renumber {entry.spec} above {version} and rebuild"
    if ref is not None:
        message = f"is new but numbered at or below {ref}'s newest version {version} (another branch added versions)"
        hint = f"'schemac rebase --onto {ref}' renumbers this branch's new specs above {version} and rebuilds"
    else:
        message = (
            f"is new but numbered at or below {version} ({name}), the newest version recorded: a runner applies "
            "only versions above the newest it has applied, so it would never run this one"
        )
    return Diagnostic(
        file,
        1,
        1,
        "SC515",
        f"version {entry.version} ({entry.file}) {message}",
        hint,
    )


def check_base(
    root: Path,
    layouts: Sequence[Path],
    dialect: str,
    current: Manifest | None,
    ref: str,
    display: str,
    allow_amendments: bool = False,
) -> list[Diagnostic]:
    """``base_problems`` against the manifest of ``dialect`` at ``ref``: the one in ``layouts[0]`` (where the
    dialect's files go now), else one for ``dialect`` in another layout's directory (where they went when
    the project built another number of dialects), so that changing the layout hides no rewrite."""
    here, *others = layouts
    base = manifest_at(root, ref, here / MANIFEST_NAME, display)
    for other in others:
        if base is not None:
            break
        found = manifest_at(root, ref, other / MANIFEST_NAME, display)
        base = found if found is not None and found.dialect == dialect else None
    if base is None:
        return []
    return base_problems(base, current or Manifest(base.dialect, ()), ref, display, allow_amendments)
