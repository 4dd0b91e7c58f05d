"""Published history against a git ref: ``check --base`` for CI on a branch.

Reads the manifest as it was at the ref with ``git show`` and reports every version that the
branch changed, removed or reordered, and every new version numbered at or below the ref's newest
(two branches that both added a version). A manifest the ref holds under the other layout
(``migrations/`` against ``migrations/<dialect>/``) is the same dialect's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from schemac.errors import Diagnostic, fail
from schemac.migrations.manifest import MANIFEST_NAME, Manifest, ManifestEntry, parse_manifest
from schemac.project.inputs import MAX_MANIFEST_BYTES

if TYPE_CHECKING:
    import subprocess


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    import subprocess  # here, not at the top: the loader (apply, status) imports this module and never runs git

    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        raise fail(str(root), 1, 1, "SC516", "git is not installed", "install git to use --base") from None


def manifest_at(root: Path, ref: str, manifest: Path, display: str) -> Manifest | None:
    """The manifest at ``manifest`` as committed at ``ref``, or ``None`` when the ref has none."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise fail(
            display, 1, 1, "SC516", f"'{root}' is not inside a git repository", "run check --base in a git checkout"
        )
    if ref.startswith("-") or _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise fail(
            display, 1, 1, "SC517", f"git ref '{ref}' does not name a commit", "fetch it, or pass a branch/tag/SHA"
        )
    try:
        path = manifest.resolve().relative_to(Path(top.stdout.decode().strip()).resolve()).as_posix()
    except ValueError:
        raise fail(display, 1, 1, "SC516", f"'{manifest}' is outside the git repository of '{root}'") from None
    size = _git(root, "cat-file", "-s", f"{ref}:{path}")
    if size.returncode != 0:
        return None
    if int(size.stdout) > MAX_MANIFEST_BYTES:
        raise fail(
            f"{ref}:{path}",
            1,
            1,
            "SC101",
            f"file is {int(size.stdout)} bytes, over the limit of {MAX_MANIFEST_BYTES} bytes",
        )
    shown = _git(root, "cat-file", "blob", f"{ref}:{path}")
    if shown.returncode != 0:
        return None
    return parse_manifest(shown.stdout, f"{ref}:{path}")


def base_problems(base: Manifest, current: Manifest, ref: str, display: str) -> list[Diagnostic]:
    """Every way ``current`` rewrites the history that ``base`` (the manifest at ``ref``) published."""
    found: list[Diagnostic] = []
    now = current.by_file()
    listed = {e.file for e in base.entries}

    def finding(entry: ManifestEntry, code: str, message: str, hint: str) -> None:
        found.append(Diagnostic(display, 1, 1, code, f"version {entry.version} ({entry.file}) {message}", hint))

    for entry in base.entries:
        mine = now.get(entry.file)
        if mine is None:
            finding(
                entry, "SC512", f"was published at {ref} and is removed", "restore it; write a follow-up spec instead"
            )
        elif (mine.sha256, mine.spec_sha256, mine.version) != (entry.sha256, entry.spec_sha256, entry.version):
            finding(
                entry, "SC513", f"was changed since {ref}", "restore it from the base; write a follow-up spec instead"
            )
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


def numbered_below(file: str, entry: ManifestEntry, newest: tuple[int, str], ref: str | None = None) -> Diagnostic:
    """SC515 at ``file``: ``entry``, a version the manifest does not list yet, is numbered at or below
    ``newest`` (version, file), the newest version recorded (at ``ref``, when given: another branch added
    versions there).

    ``build``, ``check`` and ``plan`` refuse it against the project's manifest, ``check --base`` against the ref's.
    """
    version, name = newest
    if ref is not None:
        message = f"is new but numbered at or below {ref}'s newest version {version} (another branch added versions)"
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
        f"renumber {entry.spec} above {version} and rebuild",
    )


def check_base(
    root: Path, layouts: Sequence[Path], dialect: str, current: Manifest | None, ref: str, display: str
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
    return base_problems(base, current or Manifest(base.dialect, ()), ref, display)
