"""Build cache: the last compile's outputs and planning state, so the next compile only does what changed.

It lives in ``<project>/.schemac-cache/`` (with its own ``.gitignore``) and is safe to delete. Two
kinds of file:

- ``compile.pickle``, the snapshot: which specs were compiled, each generated file's manifest
  entry, and the planning state before the newest spec. It is a pickle, so it is signed with
  HMAC-SHA256 under a key kept outside every project (``$XDG_CACHE_HOME/schemac/cache.key``, mode
  0600): a snapshot that someone else wrote, such as one committed to a repository, fails the
  check and is never unpickled.
- ``records.pack``, an append-only file of records: each table of the planning state (pickled)
  and each generated file. The snapshot holds every record's offset, length and SHA-256, and a
  record is used only when its bytes have that digest, so the pack needs no signature of its own.
  A build appends the records it made and rewrites only the small snapshot; when the pack holds
  more dead records than live ones, it is written afresh and swapped in (a process still reading
  the old one keeps its open file; one that opens the new file after loading an older snapshot
  finds digests that differ and compiles without the cache).

An entry is used only when schemac's own files, the libraries that shape the output, the settings,
the template overrides and every earlier spec's bytes are the same as when it was written. The
cache only saves work: ``check`` still compares what it produces with the files on disk, and
``--no-cache`` compiles everything afresh.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import hmac
import importlib.util
import os
import pickle
import sqlite3
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from schemac.migrations.manifest import ManifestEntry
from schemac.model import Table
from schemac.planner import PlanState
from schemac.project.inputs import MAX_TEMPLATE_BYTES, read_bytes
from schemac.project.settings import Settings

CACHE_DIR = ".schemac-cache"
_FORMAT = 2
_SNAPSHOT = "compile.pickle"
_PACK = "records.pack"
MAX_SNAPSHOT_BYTES = 1 << 30
_COMPACT_ABOVE = 4 << 20
"""A pack is rewritten once its dead records outweigh its live ones by this many bytes."""

Rendered = tuple[str, bytes, ManifestEntry]
"""One generated migration: file name, bytes, manifest entry."""
Packed = tuple[str, Callable[[], bytes], ManifestEntry]
"""A generated migration kept in the pack: file name, what reads its bytes, manifest entry."""


TableRecords = dict[str, tuple[Table, bytes]]
"""Table name → a table and its pickled form, made where it was read: stored as it is when the table
is still the one in the planning state."""


class StaleCache(Exception):
    """A pack record is missing or not what the snapshot recorded: compile without the cache."""


Stored = tuple[int, int, bytes]
"""Where one record sits in a pack: (offset, length, SHA-256 digest its bytes must have).

A plain tuple, because the snapshot holds one per table and tuples pickle several times faster
than small classes."""


class Pack:
    """An append-only file of records, read and written by :class:`Stored` locations."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def empty(cls, path: Path) -> Pack:
        """A new, empty pack swapped in at ``path`` (readers of the old one keep their open file)."""
        _replace_private(path, b"")
        return cls(path)

    def open(self) -> None:
        """Open the file for reading now, so that a pack swapped in later does not change what is read."""
        if self._fd is None:
            self._fd = _open_private(self.path, os.O_RDONLY)

    def read(self, where: Stored) -> bytes:
        """The record's bytes; :class:`StaleCache` when the file lacks them or they differ."""
        try:
            self.open()
            assert self._fd is not None
            offset, length, digest = where
            data = os.pread(self._fd, length, offset)
        except OSError as exc:
            raise StaleCache(str(exc)) from None
        if len(data) != length or hashlib.sha256(data).digest() != digest:
            raise StaleCache(f"record at {offset} of {self.path.name} changed")
        return data

    def append(self, records: list[bytes]) -> list[Stored]:
        """Add records at the end, under a lock so that concurrent writers do not interleave."""
        fd = _open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            offset = os.lseek(fd, 0, os.SEEK_END)
            found = []
            for record in records:
                found.append((offset, len(record), hashlib.sha256(record).digest()))
                offset += len(record)
            data = memoryview(b"".join(records))
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)  # closing releases the lock
        return found

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def _open_private(path: Path, flags: int) -> int:
    """Open a file of the cache directory, never through a symlink and only if it is a regular file.

    The cache directory is checked by :func:`_verified` first; with ``O_NOFOLLOW`` here, nothing a
    repository plants in it (a symlink, a FIFO, a device) makes schemac read or write elsewhere.
    """
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return fd


def _replace_private(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` in one step, through a new temporary file (``O_EXCL``) beside it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temporary)  # left by a killed process of the same id, or planted: only the name is removed
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _verified(here: Path) -> bool:
    """Whether ``here`` is a real directory (not a symlink): the cache is read and written only then."""
    try:
        return stat.S_ISDIR(os.lstat(here).st_mode)
    except OSError:
        return False


class LazyTables(MutableMapping[str, Table]):
    """Tables kept in a pack until first read: resuming a plan touches only the tables it needs."""

    def __init__(self, stored: Mapping[str, Stored], pack: Pack | None = None) -> None:
        self._items: dict[str, Table | Stored] = dict(stored)
        self._stored = dict(stored)
        """Where each table that has not changed since it was loaded sits in :attr:`pack`."""
        self.pack = pack

    @classmethod
    def holding(cls, tables: Mapping[str, Table]) -> LazyTables:
        """Tables that are all in memory and in no pack yet."""
        lazy = cls({})
        lazy._items = dict(tables)
        return lazy

    def __getitem__(self, name: str) -> Table:
        value = self._items[name]
        if isinstance(value, tuple):
            if self.pack is None:
                raise StaleCache("tables without their pack")
            value = self._items[name] = pickle.loads(self.pack.read(value))
        return value

    def __setitem__(self, name: str, table: Table) -> None:
        self._items[name] = table
        self._stored.pop(name, None)

    def __delitem__(self, name: str) -> None:
        del self._items[name]
        self._stored.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __copy__(self) -> LazyTables:
        clone = LazyTables(self._stored, self.pack)
        clone._items = dict(self._items)
        return clone

    def store(self, pack: Pack, pickled: TableRecords) -> list[Stored]:
        """Append the tables not yet in ``pack`` (new or changed since loading) to it and return every
        table's location, so that the mapping pickles as locations only. A table found in ``pickled``
        as the very same object is stored in that form."""
        if self.pack is not None and self.pack is not pack:
            raise StaleCache("tables of another pack")
        missing = [name for name in self._items if name not in self._stored]
        records = [_pickled(self[name], pickled.get(name)) for name in missing]
        self._stored.update(zip(missing, pack.append(records), strict=True))
        self.pack = pack
        return list(self._stored.values())

    def moved(self, locations: Mapping[Stored, Stored], pack: Pack) -> None:
        """The records now sit at ``locations`` in ``pack`` (after the pack was written afresh)."""
        self._stored = {name: locations[where] for name, where in self._stored.items()}
        self._items.update(
            {name: where for name, where in self._stored.items() if isinstance(self._items[name], tuple)}
        )
        self.pack = pack

    def __reduce__(self) -> tuple[type[LazyTables], tuple[dict[str, Stored]]]:
        if len(self._stored) != len(self._items):
            raise pickle.PicklingError("store() the tables in a pack before pickling them")
        return (LazyTables, ({name: self._stored[name] for name in self._items},))


@dataclass
class Snapshot:
    key: str
    specs: list[tuple[str, str]]
    """(file, SHA-256) of every spec compiled, in version order."""
    outputs: dict[str, list[tuple[Stored, ManifestEntry]]]
    """Dialect → where the generated file of every spec sits in the pack, and its manifest entry."""
    before_last: PlanState
    """Planning state before the last spec, so that amending the newest spec also resumes."""

    def rendered(self, directory: Path, dialect: str, count: int) -> list[Packed]:
        """The first ``count`` generated files of ``dialect``, each with a reader of its bytes from the pack."""
        pack = self.open_pack(directory)
        return [
            (entry.file, functools.partial(pack.read, where), entry) for where, entry in self.outputs[dialect][:count]
        ]

    def open_pack(self, directory: Path) -> Pack:
        tables = self.before_last.tables
        assert isinstance(tables, LazyTables)
        if tables.pack is None:
            tables.pack = Pack(directory / _PACK)
        return tables.pack


@cache
def _tool_digest() -> str:
    """schemac's own files and the versions of everything else that shapes its output."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]  # all of schemac, not only this subpackage
    for path in sorted(package.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".j2", ".json"):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(repr((_FORMAT, sys.version_info[:2], sqlite3.sqlite_version, _libraries())).encode())
    return digest.hexdigest()


def _libraries() -> list[tuple[str, str, int, int]]:
    """Each library that shapes the output, by the name, size and time of its module file or of every
    file at the top of its package (compiled extensions included), which any reinstall changes. Found
    without importing them: jsonschema is imported only for a spec that jsonschema-rs does not accept."""
    found = []
    for name in ("yaml", "jsonschema", "jsonschema_rs", "jinja2"):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            found.append((name, "", 0, 0))
            continue
        if spec.submodule_search_locations:  # a package: its directory
            with os.scandir(os.path.dirname(spec.origin)) as entries:
                files = sorted((e.name, e.stat()) for e in entries if e.is_file())
        else:  # a single module: that file alone
            files = [(os.path.basename(spec.origin), os.stat(spec.origin))]
        found += [(name, file, status.st_size, status.st_mtime_ns) for file, status in files]
    return found


def key(settings: Settings) -> str:
    """What, besides the specs, decides the output: the tool, the settings and the template overrides."""
    digest = hashlib.sha256(_tool_digest().encode())
    parts = (settings.dialects, settings.audit_default, settings.relative(settings.specs_dir), settings.min_versions)
    digest.update(repr(parts).encode())
    if settings.plain_engines:  # engines written without their online options
        digest.update(f"plain={sorted(settings.plain_engines)}".encode())
    if settings.audit_defaults_from is not None:  # where audit defaults take effect (schemac.project.behaviours)
        digest.update(f"audit_defaults_from={settings.audit_defaults_from}".encode())
    for dialect in settings.dialects:
        overrides = settings.templates_dir / dialect
        if overrides.is_dir():
            for path in sorted(overrides.iterdir()):
                if path.suffix == ".j2":
                    data = read_bytes(path, settings.relative(path), MAX_TEMPLATE_BYTES, root=settings.root)
                    digest.update(path.name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def directory(settings: Settings) -> Path:
    return settings.root / CACHE_DIR


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
    here = directory(settings)
    if not _verified(here):
        return None
    try:
        data = read_bytes(here / _SNAPSHOT, _SNAPSHOT, MAX_SNAPSHOT_BYTES, follow=False)
        tag, payload = data[:32], data[32:]
        if not hmac.compare_digest(tag, _tag(signing_key, payload)):
            return None  # not written by this user's schemac: never unpickle it
        snapshot = pickle.loads(payload)
    except Exception:  # a damaged cache file only costs a full compile
        return None
    if not isinstance(snapshot, Snapshot) or snapshot.key != expected_key:
        return None
    try:
        snapshot.open_pack(directory(settings)).open()
    except OSError:
        return None
    return snapshot


def save(
    settings: Settings,
    snapshot_key: str,
    specs: list[tuple[str, str]],
    outputs: dict[str, list[tuple[Stored | bytes, ManifestEntry]]],
    before_last: PlanState,
    previous: Snapshot | None,
    pickled: TableRecords,
) -> None:
    """Append what is new to the pack and replace the snapshot atomically.

    ``outputs`` holds, per dialect, each generated file as its location in ``previous``'s pack or
    as new bytes; ``pickled``, tables already pickled where they were read. A cache that cannot be
    written is skipped, never an error.
    """
    signing_key = _signing_key()
    if signing_key is None:
        return
    here = directory(settings)
    try:
        with contextlib.suppress(FileExistsError):
            here.mkdir()
        if not _verified(here):
            return
        with contextlib.suppress(FileExistsError):
            fd = os.open(here / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write("# schemac's build cache: safe to delete, never commit it.\n*\n")
        pack = previous.open_pack(here) if previous is not None else Pack.empty(here / _PACK)
        located = {name: _place(pack, files) for name, files in outputs.items()}
        if not isinstance(before_last.tables, LazyTables):
            before_last.tables = LazyTables.holding(before_last.tables)
        tables = before_last.tables
        live = tables.store(pack, pickled) + [where for files in located.values() for where, _ in files]
        live_bytes = sum(length for _, length, _ in live)
        if pack.size() - live_bytes > live_bytes + _COMPACT_ABOVE:
            unique = list(dict.fromkeys(live))
            records = [pack.read(where) for where in unique]
            fresh = Pack.empty(here / _PACK)
            locations = dict(zip(unique, fresh.append(records), strict=True))
            located = {name: [(locations[w], entry) for w, entry in files] for name, files in located.items()}
            tables.moved(locations, fresh)
            pack = fresh
        payload = pickle.dumps(Snapshot(snapshot_key, specs, located, before_last), pickle.HIGHEST_PROTOCOL)
        _replace_private(here / _SNAPSHOT, _tag(signing_key, payload) + payload)
    except (OSError, StaleCache, pickle.PicklingError):
        return


def _pickled(table: Table, known: tuple[Table, bytes] | None) -> bytes:
    return known[1] if known is not None and known[0] is table else pickle.dumps(table, pickle.HIGHEST_PROTOCOL)


def _place(pack: Pack, files: list[tuple[Stored | bytes, ManifestEntry]]) -> list[tuple[Stored, ManifestEntry]]:
    """Every file's location in ``pack``, appending the new ones."""
    new = [data for data, _ in files if isinstance(data, bytes)]
    appended = iter(pack.append(new))
    return [(next(appended) if isinstance(data, bytes) else data, entry) for data, entry in files]
