"""The verbs as library functions: ``init``, ``new``, ``validate``, ``build``, ``check``.

Each returns a result object or raises :class:`~schemac.errors.SchemacError`; the CLI only formats.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from schemac import dialects, render
from schemac.applier.progress import ProgressCallback, no_progress
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError
from schemac.migrations import history
from schemac.migrations.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    Published,
    as_published,
    parse_manifest,
    published_state,
)
from schemac.project.compiler import Compiled, Output, compile_outputs, compile_project, discover, require_specs_dir
from schemac.project.files import project_lock, publish, recover
from schemac.project.inputs import MAX_MANIFEST_BYTES, MAX_MIGRATION_BYTES, MAX_SETTINGS_BYTES, read_bytes
from schemac.project.settings import Settings, load_settings
from schemac.spec.source import SPEC_NAME, load_document
from schemac.spec.validation import schema_text

SCHEMA_COMMENT_PREFIX = "# yaml-language-server: $schema="
SCHEMA_FILE = "schema/spec.schema.json"

# Fixes shared by build's refusals and check's drift findings, so the two always say the same.
_HINT_RESTORE_AND_FOLLOW_UP = "restore it from version control; change the schema with a follow-up spec"
_HINT_RESTORE_SPEC = "restore the spec; drop tables in a follow-up spec instead"
_HINT_REMOVE_OR_ADD_SPEC = "remove it, or add the spec that produces it"
_HINT_REVERT_SPEC = (
    "revert the spec and write a follow-up spec (schemac new <slug>); "
    "only the newest version may change, with build --amend"
)


@dataclass(frozen=True)
class ValidateResult:
    specs: int
    tables: int


@dataclass(frozen=True)
class BuildResult:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    outputs: tuple[Output, ...] = field(repr=False)
    settings: Settings | None = field(default=None, repr=False)
    removed: tuple[str, ...] = ()  # the other layout's files, once moved into the output directory

    @property
    def compiled(self) -> Compiled:
        """The whole compile (specs, plans, outputs), made on first use: a cached build does not hold it."""
        assert self.settings is not None
        return compile_project(self.settings)


@dataclass(frozen=True)
class Drift:
    """One difference between what the specs give and what is on disk."""

    diagnostic: Diagnostic
    kind: str  # added | edited | removed | stale | history | kept (a warning: kept as published)
    diff: str = ""


@dataclass(frozen=True)
class CheckResult:
    drift: tuple[Drift, ...]
    files: int

    @property
    def ok(self) -> bool:
        """No drift: at most warnings."""
        return not self.errors

    @property
    def errors(self) -> tuple[Drift, ...]:
        return tuple(d for d in self.drift if d.diagnostic.severity == "error")

    @property
    def warnings(self) -> tuple[Drift, ...]:
        return tuple(d for d in self.drift if d.diagnostic.severity == "warning")


def _settings(project: str | Path) -> Settings:
    return load_settings(Path(project))


def validate(project: str | Path = ".") -> ValidateResult:
    """Compile everything in memory; raise with every finding, or return counts."""
    compiled = compile_project(_settings(project))
    return ValidateResult(len(compiled.specs), len(compiled.plans[-1].schema) if compiled.plans else 0)


def _present(path: Path) -> bool:
    """Whether ``path`` names anything, a dangling symlink included (reading it then says what is wrong)."""
    return path.exists() or path.is_symlink()


def _read_manifest(directory: Path, settings: Settings) -> Manifest | None:
    path = directory / MANIFEST_NAME
    if not _present(path):
        return None
    display = settings.relative(path)
    return parse_manifest(read_bytes(path, display, MAX_MANIFEST_BYTES, root=settings.root), display)


def _read_migration(path: Path, settings: Settings) -> bytes | None:
    """A migration file's bytes, read as every project file is; ``None`` when there is no such file."""
    if not _present(path):
        return None
    return read_bytes(path, settings.relative(path), MAX_MIGRATION_BYTES, root=settings.root)


_MANIFEST_DRIFT = frozenset({"SC504", "SC505", "SC506"})
"""Manifest findings that mean the file was edited (not that it could not be read): drift, for ``check``."""


@dataclass(frozen=True)
class _Published:
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


def _published(settings: Settings, dialect: str) -> _Published:
    """Where ``dialect``'s published migrations are: its output directory, or the other layout's when only
    that one holds a manifest of this dialect (a manifest of another dialect there is not this one's)."""
    here = settings.output_dir(dialect)
    manifest = _read_manifest(here, settings)
    other = settings.other_layout_dir(dialect)
    old = _read_manifest(other, settings)
    if old is None or old.dialect != dialect:
        return _Published(here, manifest)
    if manifest is None:
        return _Published(other, old, other, old)
    return _Published(here, manifest, other, old)


def _states(output: Output, published: _Published, settings: Settings) -> tuple[dict[str, Published], list[Diagnostic]]:
    """How each version the manifest lists stands (:func:`~schemac.migrations.manifest.published_state`), by file,
    and why a published file could not be read."""
    states: dict[str, Published] = {}
    unreadable: list[Diagnostic] = []
    generated = output.manifest.by_file()
    for entry in published.manifest.entries if published.manifest else ():
        try:
            data = _read_migration(published.directory / entry.file, settings)
        except SchemacError as exc:
            unreadable.extend(exc.diagnostics)
            continue
        states[entry.file] = published_state(entry, data, generated.get(entry.file))
    return states, unreadable


def _expected_manifest(output: Output, published: _Published, amend: bool) -> tuple[Manifest, frozenset[str]]:
    """The manifest a build writes, and the files it keeps as published: every listed version that a
    spec still gives keeps its entry and file (the newest is rendered again with ``amend``)."""
    recorded = published.manifest.by_file() if published.manifest else {}
    newest = published.manifest.entries[-1].file if published.manifest and published.manifest.entries else None
    entries = []
    kept = set()
    for entry in output.manifest.entries:
        old = recorded.get(entry.file)
        if old is not None and not (amend and entry.file == newest):
            entry = as_published(entry, old)
            kept.add(entry.file)
        entries.append(entry)
    return Manifest(output.dialect, tuple(entries)), frozenset(kept)


def _leftover_problem(output: Output, published: _Published, settings: Settings) -> Diagnostic | None:
    """``None`` when the other layout's copy of this dialect matches the output directory file for file
    (what an interrupted move leaves: a build removes it), else why it cannot be removed."""
    assert published.stale is not None and published.stale_manifest is not None and published.manifest is not None
    current = published.manifest.by_file()
    same = all(
        (mine := current.get(e.file)) is not None
        and (mine.version, mine.sha256, mine.spec_sha256) == (e.version, e.sha256, e.spec_sha256)
        for e in published.stale_manifest.entries
    ) and all(
        _read_migration(path, settings) == _read_migration(published.directory / path.name, settings)
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


def _stale_layout(output: Output, published: _Published, settings: Settings) -> Diagnostic:
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


def _published_problems(
    output: Output, published: _Published, states: dict[str, Published], settings: Settings, amend: bool
) -> list[Diagnostic]:
    """Why writing ``output`` would rewrite or contradict what is published (a version kept as published
    is no reason), or would leave a stale layout that differs from it."""
    found: list[Diagnostic] = []
    shown = settings.relative
    entries = published.manifest.entries if published.manifest else ()
    newest = entries[-1].file if entries else None
    for entry in entries:
        path = published.directory / entry.file
        state = states.get(entry.file)  # None: it could not be read, which is reported already
        if state is Published.MISSING:
            found.append(
                Diagnostic(
                    shown(path), 1, 1, "SC502", "published migration was deleted", "restore it from version control"
                )
            )
        elif state is Published.EDITED:
            found.append(
                Diagnostic(
                    shown(path),
                    1,
                    1,
                    "SC501",
                    "published migration was edited after it was "
                    "published (its SHA-256 no longer matches the manifest)",
                    _HINT_RESTORE_AND_FOLLOW_UP,
                )
            )
        elif state is Published.SPEC_REMOVED:
            found.append(
                Diagnostic(
                    entry.spec,
                    1,
                    1,
                    "SC502",
                    f"spec of published migration {shown(path)} was removed",
                    _HINT_RESTORE_SPEC,
                )
            )
        elif state is Published.SPEC_CHANGED and not (amend and entry.file == newest):
            found.append(
                Diagnostic(
                    entry.spec,
                    1,
                    1,
                    "SC510",
                    f"spec changed after it was published as "
                    f"{shown(path)} (manifest entry for version {entry.version})",
                    _HINT_REVERT_SPEC,
                )
            )
    newest_version = max((e.version for e in entries), default=-1)
    listed = {e.file for e in entries}
    for entry in output.manifest.entries:
        if entry.file not in listed and entry.version <= newest_version:
            found.append(
                Diagnostic(
                    entry.spec,
                    1,
                    1,
                    "SC114",
                    f"version {entry.version} is at or below the newest published version {newest_version}",
                    f"renumber it above {newest_version} (schemac new picks the next free one)",
                )
            )
    for path in _unaccounted(output, published):
        found.append(
            Diagnostic(
                shown(path),
                1,
                1,
                "SC503",
                "migration file is not produced by any spec",
                _HINT_REMOVE_OR_ADD_SPEC,
            )
        )
    if published.stale is not None and not published.moving:
        leftover = _leftover_problem(output, published, settings)
        if leftover is not None:
            found.append(leftover)
    return found


def _unaccounted(output: Output, published: _Published) -> list[Path]:
    """The ``.sql`` files in the output directory (and in the other layout's, while the published files
    still lie there) that neither the manifest lists nor a spec produces."""
    listed = {e.file for e in published.manifest.entries} if published.manifest else set()
    found = []
    for directory, known in (
        (output.directory, set(output.manifest.by_file()) | (listed if not published.moving else set())),
        *([(published.directory, listed)] if published.moving else []),
    ):
        found += [p for p in sorted(directory.glob("*.sql"), key=lambda p: p.name) if p.name not in known]
    return found


def _remove_stale(directory: Path, settings: Settings) -> list[str]:
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


def build(
    project: str | Path = ".", *, amend: bool = False, cache: bool = True, progress: ProgressCallback = no_progress
) -> BuildResult:
    """Write new migrations and the manifest; never rewrite a published file (except the newest with ``amend``).

    A published version whose file and spec are as published is kept byte for byte, with its
    manifest entry, however this schemac renders it. Published files that lie in the other layout
    (the project changed how many dialects it builds) are moved to the output directory unchanged.
    ``cache`` reuses ``.schemac-cache/`` so that only specs after the cached ones are compiled.
    ``progress(done, total, stage)`` is called as specs are read and rendered (the CLI shows it on a terminal).
    """
    settings = _settings(project)
    require_specs_dir(settings)  # SC111 before the lock needs the directory
    with project_lock(settings.root):
        outputs = compile_outputs(settings, use_cache=cache, progress=progress)
        written: list[str] = []
        unchanged: list[str] = []
        changes: dict[str, bytes] = {}  # path under migrations/ → bytes, every dialect published in one swap
        stale: list[Path] = []
        for output in outputs:
            recover(output.directory)
            published = _published(settings, output.dialect)
            states, problems = _states(output, published, settings)
            problems += _published_problems(output, published, states, settings, amend)
            if problems:
                raise SchemacError(problems)
            manifest, kept = _expected_manifest(output, published, amend)
            for name in sorted(output.files):
                path = output.directory / name
                if name in kept and not published.moving:
                    unchanged.append(settings.relative(path))  # its bytes were just hashed equal to the manifest's
                    continue
                if name == MANIFEST_NAME:
                    data = manifest.to_text().encode("utf-8")
                elif name in kept:
                    data = _read_migration(published.directory / name, settings) or b""  # moved as it is
                else:
                    data = output.files[name]
                if _read_migration(path, settings) == data:
                    unchanged.append(settings.relative(path))
                else:
                    changes[path.relative_to(settings.migrations_dir).as_posix()] = data
                    written.append(settings.relative(path))
            if published.stale is not None:
                stale.append(published.stale)
        if changes:
            publish(settings.migrations_dir, changes, settings.relative(settings.migrations_dir))
        removed = [shown for directory in stale for shown in _remove_stale(directory, settings)]
    return BuildResult(tuple(written), tuple(unchanged), outputs, settings, tuple(removed))


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


def check(project: str | Path = ".", *, base: str | None = None, cache: bool = True) -> CheckResult:
    """Regenerate in memory and list every difference from the files on disk (CI's guard).

    A published version kept as published although this schemac renders it differently is a
    warning (SC511), not drift. With ``base`` (a git ref), also list every version published at
    that ref that was changed, removed or reordered, and every new version numbered at or below
    the ref's newest. ``cache`` reuses ``.schemac-cache/`` for the specs it has seen; the files on
    disk are always compared.
    """
    settings = _settings(project)
    outputs = compile_outputs(settings, use_cache=cache)
    drift = [found for output in outputs for found in _check_output(output, settings, base)]
    return CheckResult(tuple(drift), sum(len(o.files) for o in outputs))


def _check_output(output: Output, settings: Settings, base: str | None) -> list[Drift]:
    """``check`` for one dialect: its history against ``base``, its layout, each published version's
    state, then every other file the specs give (the manifest as a build would write it) or that lies there."""
    try:
        published = _published(settings, output.dialect)
    except SchemacError as exc:
        if not {d.code for d in exc.diagnostics} <= _MANIFEST_DRIFT:
            raise
        # An edited manifest is drift, as an edited file is; since what it published cannot be told, it is all
        # that is said about this dialect.
        return [Drift(d, "edited") for d in exc.diagnostics]
    drift: list[Drift] = []
    if base is not None:
        display = settings.relative(published.directory / MANIFEST_NAME)
        layouts = (output.directory, settings.other_layout_dir(output.dialect))
        for problem in history.check_base(settings.root, layouts, output.dialect, published.manifest, base, display):
            drift.append(Drift(problem, "history"))
    if published.stale is not None:
        drift.append(Drift(_stale_layout(output, published, settings), "stale"))
    states, unreadable = _states(output, published, settings)
    if unreadable:
        raise SchemacError(unreadable)
    manifest, _ = _expected_manifest(output, published, amend=False)
    recorded = published.manifest.by_file() if published.manifest else {}
    newest = published.manifest.entries[-1].file if published.manifest and published.manifest.entries else None
    here = output.directory
    on_disk = {p.name for p in here.glob("*.sql")} if here.is_dir() else set()
    if _present(here / MANIFEST_NAME):
        on_disk.add(MANIFEST_NAME)
    unaccounted = {path.name: path for path in _unaccounted(output, published)}
    for name in sorted(on_disk | set(output.files) | set(recorded) | set(unaccounted)):
        if name in recorded:
            found = _published_drift(recorded[name], states[name], output, published, settings, name == newest)
            if found is not None:
                drift.append(found)
        if name in unaccounted:
            diag = Diagnostic(
                settings.relative(unaccounted[name]),
                1,
                1,
                "SC503",
                "added: migration file is not produced by any spec",
                _HINT_REMOVE_OR_ADD_SPEC,
            )
            drift.append(Drift(diag, "added"))
        if name in recorded or name in unaccounted or (name == MANIFEST_NAME and published.moving):
            continue  # said above (a moving manifest: by the stale layout's finding)
        path = here / name
        shown = settings.relative(path)
        if name not in on_disk:
            diag = Diagnostic(
                shown, 1, 1, "SC507", "missing: the specs produce this file but it was not built", "run 'schemac build'"
            )
            drift.append(Drift(diag, "stale"))
            continue
        expected = manifest.to_text().encode("utf-8") if name == MANIFEST_NAME else output.files[name]
        data = _read_migration(path, settings) or b""
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


def _published_drift(
    entry: ManifestEntry, state: Published, output: Output, published: _Published, settings: Settings, newest: bool
) -> Drift | None:
    """``check``'s finding for a version the manifest lists, in its state (``None`` when intact)."""
    path = published.directory / entry.file
    shown = settings.relative(path)
    if state is Published.MISSING:
        diag = Diagnostic(
            shown, 1, 1, "SC502", "removed: published migration is missing", "restore it from version control"
        )
        return Drift(diag, "removed")
    if state is Published.SPEC_REMOVED:
        diag = Diagnostic(
            entry.spec, 1, 1, "SC502", f"removed: spec of published migration {shown} was removed", _HINT_RESTORE_SPEC
        )
        return Drift(diag, "removed")
    if state is Published.RENDERED_DIFFERENTLY:
        hint = "nothing to do; new versions use the new rendering" + (
            ", and build --amend renders this newest version again while it has not left your branch" if newest else ""
        )
        diag = Diagnostic(
            shown,
            1,
            1,
            "SC511",
            f"kept as published: this schemac renders version {entry.version} differently "
            "(schemac or a template changed since it was published)",
            hint,
            "warning",
        )
        return Drift(diag, "kept")
    if state is Published.INTACT:
        return None
    line, diff = _difference(shown, _read_migration(path, settings) or b"", output.files.get(entry.file))
    if state is Published.EDITED:
        diag = Diagnostic(
            shown,
            line,
            1,
            "SC501",
            "edited: file differs from its SHA-256 in the manifest",
            _HINT_RESTORE_AND_FOLLOW_UP,
        )
    else:
        diag = Diagnostic(
            entry.spec,
            1,
            1,
            "SC510",
            f"edited: spec changed after it was published as {shown} (manifest entry for version {entry.version})",
            _HINT_REVERT_SPEC,
        )
    return Drift(diag, "edited", diff)


@dataclass(frozen=True)
class PlannedVersion:
    """What the next build would write for one spec and dialect: operations, SQL, and what cannot be replayed."""

    dialect: str
    version: int
    spec: str
    file: str
    status: str  # new | changed
    operations: tuple[str, ...]
    sql: str
    non_idempotent: tuple[str, ...]


def plan_changes(project: str | Path = ".") -> tuple[PlannedVersion, ...]:
    """The operations and SQL of every spec that the manifest does not list yet (or lists with another spec:
    a published version whose spec is unchanged is kept as published, however it renders now)."""
    settings = _settings(project)
    compiled = compile_project(settings)
    planned = []
    for output in compiled.outputs:
        manifest = _published(settings, output.dialect).manifest
        recorded = manifest.by_file() if manifest else {}
        for version, entry in zip(compiled.plans, output.manifest.entries, strict=True):
            previous = recorded.get(entry.file)
            if previous is not None and previous.spec_sha256 == entry.spec_sha256:
                continue
            operations = render.dialect_operations(version, dialects.get(output.dialect))
            planned.append(
                PlannedVersion(
                    output.dialect,
                    entry.version,
                    entry.spec,
                    settings.relative(output.directory / entry.file),
                    "new" if previous is None else "changed",
                    tuple(op.describe() for op in operations),
                    output.files[entry.file].decode("utf-8"),
                    entry.non_idempotent,
                )
            )
    return tuple(planned)


def raise_on_drift(result: CheckResult) -> None:
    if not result.ok:
        raise SchemacError([d.diagnostic for d in result.drift], EXIT_FINDINGS)


STARTER = """{schema_comment}description: {description}
# tables:
#   example_items:
#     description: What one row is.
#     audit: full              # full (default) | none | [created, updated, deleted]
#     columns:
#       id:     {{type: uuid, primary_key: true}}
#       name:   {{type: text}}
#       status: {{type: text, enum: [draft, active], default: draft}}
#     indexes:
#       - columns: [status]
"""

DEFAULT_SETTINGS = """[tool.schemac]
specs = "specs"
migrations = "migrations"
dialects = ["sqlite"]

[tool.schemac.audit]
default = "full"
"""


def _create(path: Path, text: str) -> None:
    """Write a new file; never through a symlink or over an existing file (``O_EXCL``)."""
    with open(path, "x", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def init(project: str | Path = ".") -> list[str]:
    """Create ``specs/``, ``migrations/`` and settings (in ``schemac.toml`` unless pyproject has them)."""
    root = Path(project)
    root.mkdir(parents=True, exist_ok=True)
    created = []
    for name in ("specs", "migrations"):
        if not (root / name).exists():
            (root / name).mkdir()
            created.append(f"{name}/")
    pyproject = root / "pyproject.toml"
    has_settings = _present(root / "schemac.toml") or (
        pyproject.is_file()
        and b"[tool.schemac" in read_bytes(pyproject, "pyproject.toml", MAX_SETTINGS_BYTES, root=root.resolve())
    )
    if not has_settings:
        settings_text = DEFAULT_SETTINGS.replace("[tool.schemac]\n", "").replace("[tool.schemac.audit]", "[audit]")
        _create(root / "schemac.toml", settings_text)
        created.append("schemac.toml")
    schema_copy = root / SCHEMA_FILE
    if not _present(schema_copy):
        schema_copy.parent.mkdir(exist_ok=True)
        _create(schema_copy, schema_text())
        created.append(SCHEMA_FILE)
    load_settings(root)
    return created


def schema_comment(settings: Settings) -> str:
    """The editor hint line, when the project keeps its copy of the JSON Schema (``schema/spec.schema.json``).

    The path is relative to the spec file, as the YAML language server resolves it.
    """
    target = settings.root / SCHEMA_FILE
    if not target.exists():
        return ""
    return f"{SCHEMA_COMMENT_PREFIX}{Path(os.path.relpath(target, settings.specs_dir)).as_posix()}\n"


def schema() -> str:
    """The JSON Schema of spec files (2020-12), for editors and other tools."""
    return schema_text()


def _yaml_string(text: str) -> str:
    """``text`` as a YAML string: plain when it reads back unchanged, else double-quoted (JSON is YAML)."""
    try:
        if load_document(f"description: {text}\n".encode(), "").data == {"description": text}:
            return text
    except SchemacError:
        pass
    return json.dumps(text, ensure_ascii=False)


def new(project: str | Path, slug: str, description: str = "Describe what this version changes.") -> Path:
    """Create the next spec with the next free version, keeping the width of existing versions."""
    settings = _settings(project)
    if SPEC_NAME.fullmatch(f"0_{slug}.yaml") is None:
        raise SchemacError([Diagnostic("<slug>", 1, 1, "SC112", f"slug '{slug}' must match [a-z0-9_]+")])
    settings.specs_dir.mkdir(parents=True, exist_ok=True)
    files, _ = discover(settings)
    versions = [f.version for f in files]
    published = 0
    for name in settings.dialects:
        manifest = _published(settings, name).manifest
        if manifest and manifest.entries:
            published = max(published, max(e.version for e in manifest.entries))
    version = max([*versions, published]) + 1 if versions or published else 1
    width = len(files[-1].prefix) if files else 4
    path = settings.specs_dir / f"{version:0{width}d}_{slug}.yaml"
    _create(path, STARTER.format(schema_comment=schema_comment(settings), description=_yaml_string(description)))
    return path
