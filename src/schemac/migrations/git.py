"""Reading a git repository without letting it run anything: refs, trees and blobs of a commit.

A repository's own configuration can name programs (``core.fsmonitor``, hooks, a pager). Only
plumbing commands that run no hook are used (``rev-parse``, ``ls-tree``, ``cat-file``, ``symbolic-ref``),
with those settings overridden on the command line, no ``GIT_*`` variable of the caller passed on, a
fixed argument list (no shell), no terminal prompt and a timeout. Git's error output is never shown.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from schemac.errors import Diagnostic, SchemacError
from schemac.project.inputs import read_bytes

TIMEOUT = 60.0
"""Seconds any one git command may take."""

SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.untrackedCache=false",
    "protocol.allow=never",
    "safe.bareRepository=explicit",
)
"""Settings that override the repository's wherever it could name a program or reach the network; and
a bare repository is used only when named, never found (one committed inside the project would
otherwise stand in for the real one, with its own configuration and history)."""

_OBJECT = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_TREE_LINE = re.compile(r"(?P<mode>[0-7]{6}) blob (?P<object>[0-9a-f]{40,64}) +(?P<size>[0-9]+)\t(?P<path>.+)", re.S)
_REGULAR = ("100644", "100755")
_BARE_REFUSED = re.compile(r"cannot use bare repository '([^']*)'")
"""How git (under ``LC_ALL=C``) refuses a bare repository it found rather than was given."""


def _environment() -> dict[str, str]:
    """The caller's environment without its ``GIT_*`` variables (which can point git at another
    repository or program), never prompting and never fetching missing objects."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    return kept | {"GIT_TERMINAL_PROMPT": "0", "GIT_NO_LAZY_FETCH": "1", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


@dataclass(frozen=True)
class Repository:
    """The git repository holding ``root``; ``display`` names the place findings point at."""

    root: Path
    display: str

    def run(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """``git ARGS`` in ``root`` with :data:`SAFE_CONFIG`; raises SC516 when git is missing or hangs."""
        command = ["git", *(part for setting in SAFE_CONFIG for part in ("-c", setting)), "-C", str(self.root), *args]
        try:
            return subprocess.run(
                command,
                input=stdin if stdin is not None else b"",
                capture_output=True,
                timeout=TIMEOUT,
                env=_environment(),
                check=False,
            )
        except FileNotFoundError:
            raise self._refuse("SC516", "git is not installed", "install git") from None
        except subprocess.TimeoutExpired:
            raise self._refuse("SC516", f"git did not answer within {TIMEOUT:.0f} s", "run it again") from None

    def _refuse(self, code: str, message: str, hint: str) -> SchemacError:
        return SchemacError([Diagnostic(self.display, 1, 1, code, message, hint)])

    def _text(self, *args: str) -> str | None:
        done = self.run(*args)
        return done.stdout.decode("utf-8", "replace").strip() if done.returncode == 0 else None

    def top(self) -> Path:
        """The working tree's top directory; SC516 outside a repository."""
        done = self.run("rev-parse", "--show-toplevel", "--absolute-git-dir")
        found = done.stdout.decode("utf-8", "replace").splitlines() if done.returncode == 0 else []
        bare = _BARE_REFUSED.search(done.stderr.decode("utf-8", "replace"))
        if bare is not None:
            found = ["", bare.group(1)]
        if len(found) != 2:
            raise self._refuse("SC516", f"'{self.root}' is not inside a git repository", "run it in a git checkout")
        top, git_dir = Path(found[0] or "/").resolve(), Path(found[1]).resolve()
        planted = git_dir != top / ".git" and git_dir.is_relative_to(self.root.resolve())
        if not found[0] or planted:
            raise self._refuse(
                "SC516",
                f"the git repository found from '{self.root}' is '{git_dir}', not a checkout's .git",
                "remove the repository files committed there (HEAD, config, objects/, refs/)",
            )
        return top

    def commit(self, ref: str) -> str | None:
        """The commit ``ref`` names (its full id), or ``None``."""
        if ref.startswith("-") or not ref:
            return None
        found = self._text("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        return found if found and _OBJECT.fullmatch(found) else None

    def short(self, commit: str) -> str:
        """An abbreviated id of ``commit``, as git shows it."""
        return self._text("rev-parse", "--short", commit) or commit[:12]

    def rebase_onto(self) -> str | None:
        """The commit that an unfinished ``git rebase`` replays this branch onto, or ``None``."""
        for state in ("rebase-merge", "rebase-apply"):
            where = self._text("rev-parse", "--git-path", f"{state}/onto")
            if not where:
                continue
            path = Path(where) if Path(where).is_absolute() else self.root / where
            try:
                text = read_bytes(path, where, 200).decode("ascii", "replace").strip()
            except SchemacError:  # none, or not a regular file of an object id's size
                continue
            if _OBJECT.fullmatch(text):
                return text
        return None

    def branch(self) -> str | None:
        """The checked-out branch's short name (``None`` when HEAD is detached)."""
        return self._text("symbolic-ref", "--quiet", "--short", "HEAD") or None

    def upstream(self) -> str | None:
        """The branch's upstream as a short ref (``origin/main``), or ``None``."""
        return self._text("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}") or None

    def files(self, commit: str, directory: str) -> dict[str, tuple[str, int]]:
        """The regular files directly in ``directory`` (a path from the top, ``/``-separated, ``.`` for the
        top itself) at ``commit``: name → (blob id, size). Symlinks, submodules and subdirectories are left out."""
        prefix = "" if directory in ("", ".") else f"{directory}/"
        done = self.run("ls-tree", "-z", "-l", "--full-tree", commit, "--", *([prefix] if prefix else []))
        found: dict[str, tuple[str, int]] = {}
        if done.returncode != 0:
            return found
        for line in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
            match = _TREE_LINE.fullmatch(line)
            if match is None or match["mode"] not in _REGULAR or not match["path"].startswith(prefix):
                continue
            name = match["path"][len(prefix) :]
            if name and "/" not in name:
                found[name] = (match["object"], int(match["size"]))
        return found

    def blobs(self, objects: list[str]) -> dict[str, bytes]:
        """The bytes of each blob in ``objects``, read in one ``cat-file --batch``."""
        if not objects:
            return {}
        done = self.run("cat-file", "--batch", stdin=b"".join(f"{o}\n".encode() for o in objects))
        found: dict[str, bytes] = {}
        data, at = done.stdout, 0
        while at < len(data):
            end = data.index(b"\n", at)
            header = data[at:end].decode("ascii", "replace").split(" ")
            if len(header) != 3 or header[1] != "blob":
                at = end + 1
                continue
            size = int(header[2])
            found[header[0]] = data[end + 1 : end + 1 + size]
            at = end + 1 + size + 1
        if done.returncode != 0 or set(found) != set(objects):
            raise self._refuse("SC516", "git could not read every file of the base", "run git fsck")
        return found
