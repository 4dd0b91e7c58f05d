"""Build cache: the last compile's outputs and planning state, so the next compile only does what changed.

It lives in ``<project>/.schemac-cache/`` (with its own ``.gitignore``) and is safe to delete. The
snapshot is a pickle, so it is signed with HMAC-SHA256 under a key kept outside every project
(``$XDG_CACHE_HOME/schemac/cache.key``, mode 0600): a snapshot that someone else wrote, such as
one committed to a repository, fails the check and is never unpickled. An entry is used only when
schemac's own files, the libraries that shape the output, the settings, the template overrides and
every earlier spec's bytes are the same as when it was written. The cache only saves work: ``check``
still compares what it produces with the files on disk, and ``--no-cache`` compiles everything afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import sqlite3
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from .manifest import ManifestEntry
from .model import Table
from .plan import PlanState
from .settings import Settings

CACHE_DIR = ".schemac-cache"
_FORMAT = 1
_SNAPSHOT = "compile.pickle"


class LazyTables(MutableMapping[str, Table]):
    """Tables that stay pickled until first read: resuming a plan touches only the tables it needs."""

    def __init__(self, items: dict[str, Table | bytes]) -> None:
        self._items = items

    def __getitem__(self, name: str) -> Table:
        value = self._items[name]
        if isinstance(value, bytes):
            value = self._items[name] = pickle.loads(value)
        return value

    def __setitem__(self, name: str, table: Table) -> None:
        self._items[name] = table

    def __delitem__(self, name: str) -> None:
        del self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __copy__(self) -> LazyTables:
        return LazyTables(dict(self._items))

    def __reduce__(self) -> tuple[type[LazyTables], tuple[dict[str, Table | bytes]]]:
        frozen: dict[str, Table | bytes] = {
            name: value if isinstance(value, bytes) else pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
            for name, value in self._items.items()
        }
        return (LazyTables, (frozen,))


Rendered = tuple[str, bytes, ManifestEntry]
"""One generated migration: file name, bytes, manifest entry."""


@dataclass
class Snapshot:
    key: str
    specs: list[tuple[str, str]]
    """(file, SHA-256) of every spec compiled, in version order."""
    outputs: dict[str, list[Rendered]]
    """Dialect → the rendered migration of every spec."""
    before_last: PlanState
    """Planning state before the last spec, so that amending the newest spec also resumes."""


@cache
def _tool_digest() -> str:
    """schemac's own files and the versions of everything else that shapes its output."""
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".j2", ".json"):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    libraries = [metadata.version(name) for name in ("pyyaml", "jsonschema", "jinja2")]
    digest.update(repr((_FORMAT, sys.version_info[:2], sqlite3.sqlite_version, libraries)).encode())
    return digest.hexdigest()


def key(settings: Settings) -> str:
    """What, besides the specs, decides the output: the tool, the settings and the template overrides."""
    digest = hashlib.sha256(_tool_digest().encode())
    parts = (settings.dialects, settings.audit_default, settings.relative(settings.specs_dir))
    digest.update(repr(parts).encode())
    for dialect in settings.dialects:
        overrides = settings.templates_dir / dialect
        if overrides.is_dir():
            for path in sorted(overrides.iterdir()):
                if path.is_file():
                    digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _path(settings: Settings) -> Path:
    return settings.root / CACHE_DIR / _SNAPSHOT


def _signing_key() -> bytes | None:
    """This user's cache-signing key, made on first use; ``None`` (no cache) where it cannot be kept."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "schemac"
    path = home / "cache.key"
    try:
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(os.urandom(32))
        key = path.read_bytes()
    except OSError:
        return None
    return key if len(key) == 32 else None


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def load(settings: Settings, expected_key: str) -> Snapshot | None:
    """The snapshot written for the same tool and settings, or ``None`` (missing, stale or unreadable)."""
    signing_key = _signing_key()
    if signing_key is None:
        return None
    try:
        data = _path(settings).read_bytes()
        tag, payload = data[:32], data[32:]
        if not hmac.compare_digest(tag, _tag(signing_key, payload)):
            return None  # not written by this user's schemac: never unpickle it
        snapshot = pickle.loads(payload)
    except Exception:  # a damaged cache file only costs a full compile
        return None
    if not isinstance(snapshot, Snapshot) or snapshot.key != expected_key:
        return None
    return snapshot


def save(settings: Settings, snapshot: Snapshot) -> None:
    """Write the snapshot atomically; a cache that cannot be written is skipped, never an error."""
    path = _path(settings)
    signing_key = _signing_key()
    if signing_key is None:
        return
    try:
        path.parent.mkdir(exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# schemac's build cache: safe to delete, never commit it.\n*\n", encoding="utf-8")
        temporary = path.with_name(f".{_SNAPSHOT}.{os.getpid()}")
        payload = pickle.dumps(snapshot, pickle.HIGHEST_PROTOCOL)
        with open(temporary, "wb") as handle:
            handle.write(_tag(signing_key, payload) + payload)
        os.replace(temporary, path)
    except OSError:
        return
