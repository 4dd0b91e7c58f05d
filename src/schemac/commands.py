"""The verbs as library functions: ``init``, ``new``, ``validate``, ``build``, ``check``.

Each returns a result object or raises :class:`~schemac.errors.SchemacError`; the CLI only formats.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import dialects, history, render
from .compiler import Compiled, Output, compile_outputs, compile_project, discover, require_specs_dir
from .errors import EXIT_FINDINGS, Diagnostic, SchemacError
from .files import project_lock, publish, recover
from .inputs import MAX_MANIFEST_BYTES, MAX_MIGRATION_BYTES, MAX_SETTINGS_BYTES, read_bytes
from .manifest import MANIFEST_NAME, Manifest, parse_manifest, sha256_hex
from .progress import ProgressCallback, no_progress
from .settings import Settings, load_settings
from .source import SPEC_NAME, load_document
from .validate import schema_text

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

    @property
    def compiled(self) -> Compiled:
        """The whole compile (specs, plans, outputs), made on first use: a cached build does not hold it."""
        assert self.settings is not None
        return compile_project(self.settings)


@dataclass(frozen=True)
class Drift:
    """One difference between what the specs give and what is on disk."""

    diagnostic: Diagnostic
    kind: str  # added | edited | removed | stale | history
    diff: str = ""


@dataclass(frozen=True)
class CheckResult:
    drift: tuple[Drift, ...]
    files: int

    @property
    def ok(self) -> bool:
        return not self.drift


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


def _published_problems(output: Output, manifest: Manifest, settings: Settings, amend: bool) -> list[Diagnostic]:
    """Why writing ``output`` would rewrite or contradict what ``manifest`` already published."""
    found: list[Diagnostic] = []
    shown = settings.relative
    generated = {e.file: e for e in output.manifest.entries}
    newest = manifest.entries[-1].file if manifest.entries else None
    for entry in manifest.entries:
        path = output.directory / entry.file
        try:
            on_disk = _read_migration(path, settings)
        except SchemacError as exc:
            found.extend(exc.diagnostics)
            continue
        if on_disk is None:
            found.append(
                Diagnostic(
                    shown(path), 1, 1, "SC502", "published migration was deleted", "restore it from version control"
                )
            )
            continue
        if sha256_hex(on_disk) != entry.sha256:
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
            continue
        new = generated.get(entry.file)
        if new is None:
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
        elif new.sha256 != entry.sha256 and not (amend and entry.file == newest):
            if new.spec_sha256 != entry.spec_sha256:
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
            else:
                found.append(
                    Diagnostic(
                        shown(path),
                        1,
                        1,
                        "SC511",
                        "generated SQL for this published version "
                        "differs from the file (a template or schemac itself changed)",
                        "keep the published file; only the newest may change, with --amend",
                    )
                )
    newest_version = max((e.version for e in manifest.entries), default=-1)
    listed = {e.file for e in manifest.entries}
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
    for path in sorted(output.directory.glob("*.sql"), key=lambda p: p.name):
        if path.name not in listed and path.name not in generated:
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
    return found


def build(
    project: str | Path = ".", *, amend: bool = False, cache: bool = True, progress: ProgressCallback = no_progress
) -> BuildResult:
    """Write new migrations and the manifest; never rewrite a published file (except the newest with ``amend``).

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
        for output in outputs:
            recover(output.directory)
            manifest = _read_manifest(output.directory, settings)
            problems = _published_problems(output, manifest, settings, amend) if manifest else []
            if problems:
                raise SchemacError(problems)
            generated = output.manifest.by_file()
            # published files whose bytes were just hashed equal to what the specs generate
            verified = (
                {e.file for e in manifest.entries if e.file in generated and generated[e.file] == e}
                if manifest
                else set()
            )
            directory = settings.relative(output.directory)
            prefix = "" if directory == "." else f"{directory}/"
            for name in sorted(output.files):
                if name in verified:
                    unchanged.append(prefix + name)
                    continue
                path = output.directory / name
                if _read_migration(path, settings) == output.files[name]:
                    unchanged.append(settings.relative(path))
                else:
                    changes[path.relative_to(settings.migrations_dir).as_posix()] = output.files[name]
                    written.append(settings.relative(path))
        if changes:
            publish(settings.migrations_dir, changes, settings.relative(settings.migrations_dir))
    return BuildResult(tuple(written), tuple(unchanged), outputs, settings)


def _first_difference(old: str, new: str) -> int:
    for number, (a, b) in enumerate(zip(old.splitlines(), new.splitlines(), strict=False), 1):
        if a != b:
            return number
    return min(len(old.splitlines()), len(new.splitlines())) + 1


def check(project: str | Path = ".", *, base: str | None = None, cache: bool = True) -> CheckResult:
    """Regenerate in memory and list every difference from the files on disk (CI's guard).

    With ``base`` (a git ref), also list every version published at that ref that was changed,
    removed or reordered, and every new version numbered at or below the ref's newest.
    ``cache`` reuses ``.schemac-cache/`` for the specs it has seen; the files on disk are always compared.
    """
    settings = _settings(project)
    outputs = compile_outputs(settings, use_cache=cache)
    drift: list[Drift] = []
    for output in outputs:
        manifest = _read_manifest(output.directory, settings)
        if base is not None:
            display = settings.relative(output.directory / MANIFEST_NAME)
            for problem in history.check_base(settings.root, output.directory, manifest, base, display):
                drift.append(Drift(problem, "history"))
        recorded = manifest.by_file() if manifest else {}
        generated = output.manifest.by_file()
        on_disk = {p.name for p in output.directory.glob("*.sql")} if output.directory.is_dir() else set()
        if _present(output.directory / MANIFEST_NAME):
            on_disk.add(MANIFEST_NAME)
        for name in sorted(on_disk | set(output.files)):
            path = output.directory / name
            shown = settings.relative(path)
            if name not in output.files and name in recorded:
                diag = Diagnostic(
                    recorded[name].spec,
                    1,
                    1,
                    "SC502",
                    f"removed: spec of published migration {shown} was removed",
                    _HINT_RESTORE_SPEC,
                )
                drift.append(Drift(diag, "removed"))
                continue
            if name not in output.files:
                drift.append(
                    Drift(
                        Diagnostic(
                            shown,
                            1,
                            1,
                            "SC503",
                            "added: migration file is not produced by any spec",
                            _HINT_REMOVE_OR_ADD_SPEC,
                        ),
                        "added",
                    )
                )
                continue
            if name not in on_disk:
                kind, code = ("removed", "SC502") if name in recorded else ("stale", "SC507")
                message = (
                    "removed: published migration is missing"
                    if kind == "removed"
                    else "missing: the specs produce this file but it was not built"
                )
                drift.append(
                    Drift(
                        Diagnostic(
                            shown,
                            1,
                            1,
                            code,
                            message,
                            "run 'schemac build'" if kind == "stale" else "restore it from version control",
                        ),
                        kind,
                    )
                )
                continue
            data = _read_migration(path, settings) or b""
            if data == output.files[name]:
                continue
            old, new = data.decode("utf-8", "replace"), output.files[name].decode("utf-8")
            diff = "".join(
                difflib.unified_diff(
                    old.splitlines(True), new.splitlines(True), f"{shown} (on disk)", f"{shown} (from specs)"
                )
            )
            line = _first_difference(old, new)
            entry = recorded.get(name)
            if entry is not None and sha256_hex(data) != entry.sha256:
                diag = Diagnostic(
                    shown,
                    line,
                    1,
                    "SC501",
                    "edited: file differs from its SHA-256 in the manifest",
                    _HINT_RESTORE_AND_FOLLOW_UP,
                )
                drift.append(Drift(diag, "edited", diff))
            elif entry is not None and entry.spec_sha256 != generated[name].spec_sha256:
                diag = Diagnostic(
                    entry.spec,
                    1,
                    1,
                    "SC510",
                    f"edited: spec changed after it was published as {shown} "
                    f"(manifest entry for version {entry.version})",
                    _HINT_REVERT_SPEC,
                )
                drift.append(Drift(diag, "edited", diff))
            else:
                diag = Diagnostic(
                    shown,
                    line,
                    1,
                    "SC507",
                    "out of date: the specs give different content",
                    "run 'schemac build' (a published spec must not change: write a follow-up)",
                )
                drift.append(Drift(diag, "stale", diff))
    return CheckResult(tuple(drift), sum(len(o.files) for o in outputs))


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
    """The operations and SQL of every spec that the manifest does not list yet (or lists with other SQL)."""
    settings = _settings(project)
    compiled = compile_project(settings)
    planned = []
    for output in compiled.outputs:
        manifest = _read_manifest(output.directory, settings)
        recorded = manifest.by_file() if manifest else {}
        for version, entry in zip(compiled.plans, output.manifest.entries, strict=True):
            previous = recorded.get(entry.file)
            if previous is not None and previous.sha256 == entry.sha256:
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
    if result.drift:
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
        manifest = _read_manifest(settings.output_dir(name), settings)
        if manifest and manifest.entries:
            published = max(published, max(e.version for e in manifest.entries))
    version = max([*versions, published]) + 1 if versions or published else 1
    width = len(files[-1].prefix) if files else 4
    path = settings.specs_dir / f"{version:0{width}d}_{slug}.yaml"
    _create(path, STARTER.format(schema_comment=schema_comment(settings), description=_yaml_string(description)))
    return path
