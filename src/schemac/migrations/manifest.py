"""Manifest stage: per-file SHA-256, the chain over them, and reading a manifest back strictly.

``migrations/manifest.json`` is pretty-printed with sorted keys so that diffs read well and two
branches that both add a version conflict in git.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schemac.errors import SchemacError, fail

MANIFEST_NAME = "manifest.json"
FORMAT = 1
MIGRATION_NAME = re.compile(r"(?P<version>[0-9]+)_(?P<slug>[a-z0-9_]+)\.sql")
ADOPTABLE_NAME = re.compile(r"(?P<version>[0-9]+)_(?P<slug>[A-Za-z0-9_.-]+)\.sql")
"""A hand-written file schemac can adopt: the first user's loader reads the integer before the first ``_``
as its version and the rest as its name; letters, digits, ``_``, ``-`` and ``.`` keep the name portable."""
MAX_VERSION = 2**53 - 1
"""The largest version: it fits every engine's 64-bit integer and the first user's JavaScript runner
(which parses versions into a double) holds it exactly."""


@dataclass(frozen=True)
class ManifestEntry:
    version: int
    name: str
    file: str
    sha256: str
    spec: str
    spec_sha256: str
    schema_fingerprint: str
    non_idempotent: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdoptedFile:
    """A hand-written migration file that ``schemac adopt`` recorded: kept as it is, never generated."""

    version: int
    file: str
    sha256: str


@dataclass(frozen=True)
class Baseline:
    """The spec marked ``baseline: true``: the schema as the adopted files leave it, with no file of its own."""

    version: int
    name: str
    spec: str
    spec_sha256: str
    schema_fingerprint: str


@dataclass(frozen=True)
class Amendment:
    """One published file that ``build --amend VERSION`` rendered again: its SHA-256 before and after, why,
    and the databases (by name) found not to have applied it; ``unverified``: those named unreachable-ok;
    ``no_known_database``: no database of its engine was known, and the user said so (``--no-known-database``).

    Nothing here proves what a database holds: anyone can write such a record, so ``check --base`` shows each
    new one, and fails on it unless told ``--allow-amendments``."""

    version: int
    file: str
    previous_sha256: str
    sha256: str
    reason: str
    databases: tuple[str, ...]
    unverified: tuple[str, ...] = ()
    no_known_database: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "databases": list(self.databases),
            "file": self.file,
            "no_known_database": self.no_known_database,
            "previous_sha256": self.previous_sha256,
            "reason": self.reason,
            "sha256": self.sha256,
            "unverified": list(self.unverified),
            "version": self.version,
        }


BEHAVIOURS = ("audit_defaults", "sqlite_plain_keys")
"""The behaviours a manifest can say took effect at a version (its ``behaviours`` object): versions
before it were generated without it. A manifest without the object, or without a name in it, has the
behaviour in effect nowhere."""


@dataclass(frozen=True)
class Manifest:
    dialect: str
    entries: tuple[ManifestEntry, ...]
    adopted: tuple[AdoptedFile, ...] = ()
    baseline: Baseline | None = None
    amendments: tuple[Amendment, ...] = ()
    """Every amend of a published file, oldest first (``amendments`` in the JSON; absent when none)."""
    behaviours: tuple[tuple[str, int], ...] = ()
    """(behaviour of :data:`BEHAVIOURS`, the version it took effect at), in name order."""

    @property
    def chain(self) -> str:
        return chain_of(self.entries, self.adopted, self.amendments)

    def by_file(self) -> dict[str, ManifestEntry]:
        return {e.file: e for e in self.entries}

    def adopted_by_file(self) -> dict[str, AdoptedFile]:
        return {a.file: a for a in self.adopted}

    def newest(self) -> tuple[int, str] | None:
        """The highest version the manifest records (published, adopted or the baseline) and its file (the
        baseline's: its spec), or ``None`` when it records none."""
        recorded = [(e.version, e.file) for e in self.entries] + [(a.version, a.file) for a in self.adopted]
        if self.baseline is not None:
            recorded.append((self.baseline.version, self.baseline.spec))
        return max(recorded, default=None)

    def to_text(self) -> str:
        """The manifest as ``json.dumps(..., indent=2, sort_keys=True, ensure_ascii=False)`` writes it.

        Written out by hand because the indenting encoder is pure Python and slow on thousands of
        entries; a test compares both on random manifests.
        """
        files = ",\n".join(_entry_text(e) for e in self.entries)
        adopted = ",\n".join(
            f'    {{\n      "file": {_json(a.file)},\n      "sha256": {_json(a.sha256)},\n'
            f'      "version": {_json(a.version)}\n    }}'
            for a in self.adopted
        )
        return (
            "{\n"
            + (f'  "adopted": [\n{adopted}\n  ],\n' if adopted else "")
            + '  "algorithm": "sha256",\n'
            + _amendments_text(self.amendments)
            + (_baseline_text(self.baseline) if self.baseline is not None else "")
            + _behaviours_text(self.behaviours)
            + f'  "chain": {_json(self.chain)},\n'
            + f'  "dialect": {_json(self.dialect)},\n'
            + f'  "files": {f"[{chr(10)}{files}{chr(10)}  ]" if files else "[]"},\n'
            + f'  "format": {FORMAT}\n'
            + "}\n"
        )


_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
"""Text that ``json.dumps(..., ensure_ascii=False)`` writes between quotes unchanged."""


def _json(value: str | int) -> str:
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


def _amendments_text(amendments: tuple[Amendment, ...]) -> str:
    """The ``amendments`` key as the indenting encoder writes it inside the manifest (a short list)."""
    if not amendments:
        return ""
    whole = json.dumps({"amendments": [a.as_dict() for a in amendments]}, indent=2, sort_keys=True, ensure_ascii=False)
    return whole[2:-2] + ",\n"


def _baseline_text(b: Baseline) -> str:
    return (
        '  "baseline": {\n'
        f'    "name": {_json(b.name)},\n'
        f'    "schema_fingerprint": {_json(b.schema_fingerprint)},\n'
        f'    "spec": {_json(b.spec)},\n'
        f'    "spec_sha256": {_json(b.spec_sha256)},\n'
        f'    "version": {_json(b.version)}\n'
        "  },\n"
    )


def _behaviours_text(behaviours: tuple[tuple[str, int], ...]) -> str:
    if not behaviours:
        return ""
    items = ",\n".join(f"    {_json(name)}: {_json(version)}" for name, version in sorted(behaviours))
    return f'  "behaviours": {{\n{items}\n  }},\n'


def _entry_text(e: ManifestEntry) -> str:
    statements = "".join(f"\n        {_json(s)}," for s in e.non_idempotent)[:-1]
    return (
        "    {\n"
        f'      "file": {_json(e.file)},\n'
        f'      "name": {_json(e.name)},\n'
        f'      "non_idempotent": [{statements}{chr(10) + "      " if statements else ""}],\n'
        f'      "schema_fingerprint": {_json(e.schema_fingerprint)},\n'
        f'      "sha256": {_json(e.sha256)},\n'
        f'      "spec": {_json(e.spec)},\n'
        f'      "spec_sha256": {_json(e.spec_sha256)},\n'
        f'      "version": {_json(e.version)}\n'
        "    }"
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Published(StrEnum):
    """How a migration file stands against its manifest: :func:`published_state` decides for a version the
    manifest lists, and :func:`~schemac.migrations.drift.classify` turns each state into its finding."""

    MISSING = "missing"  # its file is gone
    EDITED = "edited"  # its file's SHA-256 is not the one the manifest records
    SPEC_REMOVED = "spec removed"  # no spec produces it any more
    SPEC_CHANGED = "spec changed"  # its spec's SHA-256 is not the one the manifest records
    RENDERED_DIFFERENTLY = "rendered differently"  # as published, but this schemac renders it otherwise: kept
    INTACT = "intact"  # as published (and, when compared with the specs, as they give it)
    UNLISTED = "unlisted"  # a .sql file the manifest does not list (nor, for a project, does a spec produce it)
    ADOPTED_MISSING = "adopted missing"  # an adopted file is gone
    ADOPTED_EDITED = "adopted edited"  # an adopted file's SHA-256 is not the one schemac adopt recorded


def published_state(
    entry: ManifestEntry, data: bytes | None, generated: ManifestEntry | None = None, *, specs: bool = True
) -> Published:
    """Classify the published version ``entry``: its file's bytes ``data`` (``None``: no file), then,
    with ``specs``, the entry the specs now give for it (``generated``; ``None``: no spec produces it).

    A version whose file and spec are as published is kept byte for byte whatever the renderer
    gives now (``RENDERED_DIFFERENTLY``): only an edit of the file or of the spec is refused.
    """
    if data is None:
        return Published.MISSING
    if sha256_hex(data) != entry.sha256:
        return Published.EDITED
    if not specs:
        return Published.INTACT
    if generated is None:
        return Published.SPEC_REMOVED
    if generated.spec_sha256 != entry.spec_sha256:
        return Published.SPEC_CHANGED
    if generated.sha256 != entry.sha256:
        return Published.RENDERED_DIFFERENTLY
    return Published.INTACT


def adopted_state(adopted: AdoptedFile, data: bytes | None) -> Published:
    """Classify the adopted file ``adopted`` by its bytes ``data`` (``None``: no file)."""
    if data is None:
        return Published.ADOPTED_MISSING
    return Published.ADOPTED_EDITED if sha256_hex(data) != adopted.sha256 else Published.INTACT


def as_published(generated: ManifestEntry, published: ManifestEntry) -> ManifestEntry:
    """The entry a build writes for a version kept as published: what the manifest recorded for its file
    (SHA-256, schema fingerprint, non-idempotent statements), where its spec now is."""
    return ManifestEntry(
        generated.version,
        generated.name,
        generated.file,
        published.sha256,
        generated.spec,
        published.spec_sha256,
        published.schema_fingerprint,
        published.non_idempotent,
    )


def chain_of(
    entries: tuple[ManifestEntry, ...], adopted: tuple[AdoptedFile, ...] = (), amendments: tuple[Amendment, ...] = ()
) -> str:
    """SHA-256 over ``<sha256>  <file>`` lines (the ``sha256sum`` format): the adopted files, then the
    published ones, each in the manifest's order, so that a removed, reordered or inserted file changes it;
    then one ``amended <json>`` line per amendment (none: the chain of a manifest without amendments)."""
    lines = "".join(f"{a.sha256}  {a.file}\n" for a in adopted) + "".join(f"{e.sha256}  {e.file}\n" for e in entries)
    lines += "".join(f"amended {json.dumps(a.as_dict(), sort_keys=True, ensure_ascii=False)}\n" for a in amendments)
    return sha256_hex(lines.encode("utf-8"))


_JSON_NAMES: dict[object, str] = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}
_ENTRY_TYPES: dict[str, type | tuple[type, ...]] = {
    "version": int,
    "name": str,
    "file": str,
    "sha256": str,
    "spec": str,
    "spec_sha256": str,
    "schema_fingerprint": str,
    "non_idempotent": list,
}


def parse_manifest(raw: bytes, display: str) -> Manifest:
    """Read a manifest, refusing bad JSON, missing or mistyped keys, and a chain that does not match."""

    def bad(message: str, line: int = 1, column: int = 1, code: str = "SC505") -> SchemacError:
        hint = "restore manifest.json from version control: it records what was published"
        return fail(display, line, column, code, message, hint)

    try:
        text = raw.decode("utf-8")
        data: Any = json.loads(text)
    except UnicodeDecodeError:
        raise bad("manifest is not valid UTF-8", code="SC504") from None
    except json.JSONDecodeError as exc:
        raise bad(f"manifest is not valid JSON: {exc.msg}", exc.lineno, exc.colno, "SC504") from None
    except RecursionError:
        raise bad("manifest JSON is nested too deeply to read", code="SC504") from None

    def line_of(needle: str) -> int:
        at = text.find(needle)
        return text.count("\n", 0, at) + 1 if at >= 0 else 1

    if not isinstance(data, dict):
        raise bad("manifest must be a JSON object")
    top: dict[str, type] = {"algorithm": str, "format": int, "dialect": str, "files": list, "chain": str}
    for key, kind in top.items():
        if key not in data:
            raise bad(f"manifest is missing the key '{key}'")
        if not isinstance(data[key], kind):
            raise bad(f"manifest key '{key}' must be {_JSON_NAMES[kind]}", line_of(f'"{key}"'))
    if data["algorithm"] != "sha256" or data["format"] != FORMAT:
        raise bad(
            f"manifest has algorithm {data['algorithm']!r} and format {data['format']!r}; "
            f"this schemac reads sha256 and format {FORMAT}",
            line_of('"algorithm"'),
        )
    entries = []
    for i, item in enumerate(data["files"]):
        if not isinstance(item, dict):
            raise bad(f"manifest files[{i}] must be an object")
        for key, entry_kind in _ENTRY_TYPES.items():
            if key not in item:
                raise bad(f"manifest files[{i}] is missing the key '{key}'", line_of(f'"{item.get("file", "")}"'))
            if not isinstance(item[key], entry_kind) or isinstance(item[key], bool):
                raise bad(
                    f"manifest files[{i}].{key} must be {_JSON_NAMES[entry_kind]}",
                    line_of(f'"{item.get("file", "")}"'),
                )
        name = MIGRATION_NAME.fullmatch(item["file"])
        if name is None or int(name.group("version")) != item["version"] or not 0 <= item["version"] <= MAX_VERSION:
            raise bad(
                f"manifest files[{i}] names file {item['file']!r} with version {item['version']}: "
                f"a file is <version>_<slug>.sql in this directory, its version at most {MAX_VERSION}",
                line_of(f'"{item["file"]}"'),
            )
        entries.append(
            ManifestEntry(
                item["version"],
                item["name"],
                item["file"],
                item["sha256"],
                item["spec"],
                item["spec_sha256"],
                item["schema_fingerprint"],
                tuple(str(s) for s in item["non_idempotent"]),
            )
        )
    adopted = _adopted(data, bad, line_of)
    baseline = _baseline(data, bad, line_of)
    amendments = _amendments(data, {e.file: e.version for e in entries}, bad, line_of)
    behaviours = _behaviours(data, bad, line_of)
    manifest = Manifest(data["dialect"], tuple(entries), adopted, baseline, amendments, behaviours=behaviours)
    owners: dict[int, str] = {}
    for version, file in [*((a.version, a.file) for a in adopted), *((e.version, e.file) for e in entries)]:
        if version in owners:
            raise bad(
                f"manifest gives version {version} to both {owners[version]} and {file}: a runner's history holds "
                "one file per version",
                line_of(f'"{file}"'),
            )
        owners[version] = file
    if manifest.chain != data["chain"]:
        raise bad(
            "manifest chain does not match its files: the manifest was edited by hand", line_of('"chain"'), code="SC506"
        )
    return manifest


def _typed(
    item: dict[str, Any], where: str, keys: dict[str, type], bad: Callable[..., SchemacError], line: int
) -> None:
    for key, kind in keys.items():
        if key not in item:
            raise bad(f"manifest {where} is missing the key '{key}'", line)
        if not isinstance(item[key], kind) or (isinstance(item[key], bool) and kind is not bool):
            raise bad(f"manifest {where}.{key} must be {_JSON_NAMES[kind]}", line)


def _adopted(
    data: dict[str, Any], bad: Callable[..., SchemacError], line_of: Callable[[str], int]
) -> tuple[AdoptedFile, ...]:
    """The ``adopted`` list: hand-written files, each named as the loader reads it."""
    items = data.get("adopted", [])
    if not isinstance(items, list):
        raise bad("manifest key 'adopted' must be a list", line_of('"adopted"'))
    adopted = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"manifest adopted[{i}] must be an object", line_of('"adopted"'))
        line = line_of(f'"{item.get("file", "")}"')
        _typed(item, f"adopted[{i}]", {"file": str, "sha256": str, "version": int}, bad, line)
        name = ADOPTABLE_NAME.fullmatch(item["file"])
        if name is None or int(name.group("version")) != item["version"] or not 0 <= item["version"] <= MAX_VERSION:
            raise bad(f"manifest adopted[{i}] names file {item['file']!r} with version {item['version']}", line)
        adopted.append(AdoptedFile(item["version"], item["file"], item["sha256"]))
    return tuple(adopted)


def _baseline(data: dict[str, Any], bad: Callable[..., SchemacError], line_of: Callable[[str], int]) -> Baseline | None:
    if "baseline" not in data:
        return None
    item = data["baseline"]
    line = line_of('"baseline"')
    if not isinstance(item, dict):
        raise bad("manifest key 'baseline' must be an object", line)
    keys = {"name": str, "schema_fingerprint": str, "spec": str, "spec_sha256": str, "version": int}
    _typed(item, "baseline", keys, bad, line)
    return Baseline(item["version"], item["name"], item["spec"], item["spec_sha256"], item["schema_fingerprint"])


_AMENDMENT_KEYS: dict[str, type] = {
    "databases": list,
    "file": str,
    "no_known_database": bool,
    "previous_sha256": str,
    "reason": str,
    "sha256": str,
    "unverified": list,
    "version": int,
}


def _amendments(
    data: dict[str, Any], listed: dict[str, int], bad: Callable[..., SchemacError], line_of: Callable[[str], int]
) -> tuple[Amendment, ...]:
    """The ``amendments`` list: each names a file the manifest lists, with its version."""
    items = data.get("amendments", [])
    line = line_of('"amendments"')
    if not isinstance(items, list):
        raise bad("manifest key 'amendments' must be a list", line)
    amendments = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise bad(f"manifest amendments[{i}] must be an object", line)
        _typed(item, f"amendments[{i}]", _AMENDMENT_KEYS, bad, line)
        if listed.get(item["file"]) != item["version"]:
            raise bad(f"manifest amendments[{i}] names {item['file']!r}, version {item['version']}, not listed", line)
        names = [*item["databases"], *item["unverified"]]
        if not all(isinstance(name, str) for name in names):
            raise bad(f"manifest amendments[{i}] lists a database name that is not a string", line)
        amendments.append(
            Amendment(
                item["version"],
                item["file"],
                item["previous_sha256"],
                item["sha256"],
                item["reason"],
                tuple(item["databases"]),
                tuple(item["unverified"]),
                item["no_known_database"],
            )
        )
    return tuple(amendments)


def _behaviours(
    data: dict[str, Any], bad: Callable[..., SchemacError], line_of: Callable[[str], int]
) -> tuple[tuple[str, int], ...]:
    """The ``behaviours`` object: each known behaviour and the version it took effect at."""
    items = data.get("behaviours", {})
    line = line_of('"behaviours"')
    if not isinstance(items, dict):
        raise bad("manifest key 'behaviours' must be an object", line)
    for name, version in items.items():
        if name not in BEHAVIOURS:
            raise bad(
                f"manifest behaviours names '{name}', which this schemac does not know (it knows: "
                f"{', '.join(BEHAVIOURS)}): a newer schemac wrote it",
                line_of(f'"{name}"'),
            )
        if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= MAX_VERSION:
            raise bad(f"manifest behaviours.{name} must be a version, an integer from 0 to {MAX_VERSION}", line)
    return tuple(sorted(items.items()))
