"""The verbs as library functions, one documented function each.

Here: ``init``, ``new``, ``adopt``, ``validate``, ``build``, ``check``, ``rebase``, ``plan_changes`` and ``schema``.
The verbs that talk to a database or write other files live beside their stage and are re-exported
here, imported on first use: ``apply`` and ``status`` (:mod:`schemac.applier`), ``verify``
(:mod:`schemac.applier.verification`), ``baseline`` (:mod:`schemac.applier.baselining`), ``lint``
(:mod:`schemac.rules`) and ``docs`` (:mod:`schemac.datadict`).

Each returns a result object or raises :class:`~schemac.errors.SchemacError`; the CLI only formats.
What a verb finds in the published migrations is worked out in :mod:`schemac.migrations.drift`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemac import render
from schemac.errors import Diagnostic, SchemacError, fail
from schemac.migrations import drift as drifts
from schemac.migrations.adoption import adoptable
from schemac.migrations.amending import amend_notes
from schemac.migrations.drift import Drift
from schemac.migrations.manifest import MANIFEST_NAME, Amendment, Manifest
from schemac.migrations.published import expected_manifest, locate, present, read_migration, remove_stale, states
from schemac.migrations.replay import replay_findings
from schemac.project import behaviours, dev_databases
from schemac.project.compiler import (
    Compiled,
    Output,
    SpecFile,
    compile_outputs,
    compile_project,
    discover,
    require_specs_dir,
)
from schemac.project.files import project_lock, publish, recover
from schemac.project.inputs import MAX_SETTINGS_BYTES, read_bytes
from schemac.project.progress import ProgressCallback, no_progress
from schemac.project.settings import Settings, load_settings
from schemac.project.steps import discover_steps
from schemac.spec.source import SPEC_NAME, load_document
from schemac.spec.validation import schema_text

if TYPE_CHECKING:
    from schemac.applier import apply, status
    from schemac.applier.baselining import baseline
    from schemac.applier.verification import verify
    from schemac.datadict import docs
    from schemac.rules import lint

__all__ = [
    "AdoptResult",
    "BuildResult",
    "CheckResult",
    "Drift",
    "PlannedVersion",
    "RebaseResult",
    "ValidateResult",
    "adopt",
    "apply",
    "baseline",
    "build",
    "check",
    "docs",
    "init",
    "lint",
    "new",
    "plan_changes",
    "rebase",
    "schema",
    "status",
    "validate",
    "verify",
]

_ELSEWHERE = ("apply", "status", "verify", "baseline", "lint", "docs")
"""The verbs defined beside their stage, imported on first use (where from: the package's own map) so
that the other verbs start fast."""


def __getattr__(name: str) -> Any:
    if name not in _ELSEWHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import schemac

    return getattr(schemac, name)


SCHEMA_COMMENT_PREFIX = "# yaml-language-server: $schema="
SCHEMA_FILE = "schema/spec.schema.json"


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
    amendments: tuple[tuple[str, Amendment], ...] = ()  # (file, as findings name it) build --amend VERSION recorded

    @property
    def compiled(self) -> Compiled:
        """The whole compile (specs, plans, outputs), made on first use: a cached build does not hold it."""
        assert self.settings is not None
        return compile_project(self.settings)


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
    """Compile everything in memory; raise with every finding, or return counts. Writes nothing."""
    compiled = compile_project(_settings(project))
    return ValidateResult(len(compiled.specs), len(compiled.plans[-1].schema) if compiled.plans else 0)


def build(
    project: str | Path = ".",
    *,
    amend: bool | int = False,
    reason: str | None = None,
    db: Sequence[str] = (),
    unverified_env: Sequence[str] = (),
    ask_env: Sequence[str] = (),
    no_known_database: bool = False,
    cache: bool = True,
    progress: ProgressCallback = no_progress,
) -> BuildResult:
    """Write new migrations and the manifest; never rewrite a published file, except as ``amend`` says.

    ``amend=True`` renders the newest published version again (while it has not left your branch).
    ``amend=VERSION`` renders that version and every later one again, recording each changed file in
    the manifest's ``amendments`` with ``reason`` (required), once no known database (every environment,
    ``SCHEMAC_DB``, each of ``db``) has applied what changes; a database that cannot be asked refuses
    it unless it is an environment named in ``unverified_env``, and so does an engine whose files change
    with no database of it asked unless ``no_known_database`` (recorded). An environment whose literal URL
    names another machine is contacted only when named in ``ask_env`` or given in ``db``
    (:func:`~schemac.migrations.amending.amend_notes`).

    A published version whose file and spec are as published is kept byte for byte, with its
    manifest entry, however this schemac renders it. Published files that lie in the other layout
    (the project changed how many dialects it builds) are moved to the output directory unchanged.
    Refuses (writing nothing) on every finding of :func:`~schemac.migrations.drift.build_refusals`.
    ``cache`` reuses and updates ``.schemac-cache/`` so that only specs after the cached ones are compiled.
    ``progress(done, total, stage)`` is called as specs are read and rendered (the CLI shows it on a terminal).
    """
    settings = _settings(project)
    require_specs_dir(settings)  # SC111 before the lock needs the directory
    with project_lock(settings.root):
        outputs = compile_outputs(settings, use_cache=cache, progress=progress)
        dev_databases.check_new_versions(settings)  # each new version's expressions on the dev databases
        written: list[str] = []
        unchanged: list[str] = []
        changes: dict[str, bytes] = {}  # path under migrations/ → bytes, every dialect published in one swap
        stale: list[Path] = []
        plans = []
        for output in outputs:
            recover(output.directory)
            published = locate(settings, output.dialect)
            found, problems = states(output, published, settings)
            problems += drifts.build_refusals(output, published, found, settings, amend)
            if problems:
                raise SchemacError(problems)
            plans.append((output, published))
        notes = {}
        if not isinstance(amend, bool):
            notes = amend_notes(settings, plans, amend, reason, db, unverified_env, ask_env, no_known_database)
        amendments: list[tuple[str, Amendment]] = []
        for output, published in plans:
            manifest, kept = expected_manifest(output, published, amend, notes.get(output.dialect))
            new = manifest.amendments[len(published.manifest.amendments) if published.manifest else 0 :]
            amendments += [(settings.relative(output.directory / a.file), a) for a in new]
            for name in sorted(output.files):
                path = output.directory / name
                if name in kept and not published.moving:
                    unchanged.append(settings.relative(path))  # its bytes were just hashed equal to the manifest's
                    continue
                if name == MANIFEST_NAME:
                    data = manifest.to_text().encode("utf-8")
                elif name in kept:
                    data = read_migration(published.directory / name, settings) or b""  # moved as it is
                else:
                    data = output.files[name]
                if read_migration(path, settings) == data:
                    unchanged.append(settings.relative(path))
                else:
                    changes[path.relative_to(settings.migrations_dir).as_posix()] = data
                    written.append(settings.relative(path))
            if published.stale is not None:
                stale.append(published.stale)
        if changes:
            publish(settings.migrations_dir, changes, settings.relative(settings.migrations_dir))
        removed = [shown for directory in stale for shown in remove_stale(directory, settings)]
    return BuildResult(tuple(written), tuple(unchanged), outputs, settings, tuple(removed), tuple(amendments))


def check(
    project: str | Path = ".", *, base: str | None = None, allow_amendments: bool = False, cache: bool = True
) -> CheckResult:
    """Regenerate in memory and list every difference from the files on disk (CI's guard).

    A published version kept as published although this schemac renders it differently is a
    warning (SC511), not drift. With ``base`` (a git ref), also list every version published at
    that ref that was changed, removed or reordered, and every new version numbered at or below
    the ref's newest; each amendment recorded since the ref (``build --amend VERSION``) is an error
    (SC537), a warning with ``allow_amendments``, since a record proves nothing. ``cache`` reuses (and
    updates) ``.schemac-cache/`` for the specs it has seen; the files on disk are always compared, and no
    migration is written.
    """
    settings = _settings(project)
    outputs = compile_outputs(settings, use_cache=cache)
    drift = [found for output in outputs for found in drifts.check_dialect(output, settings, base, allow_amendments)]
    return CheckResult(tuple(drift), sum(len(o.files) for o in outputs))


@dataclass(frozen=True)
class AdoptResult:
    adopted: tuple[str, ...]  # the files recorded as adopted, as findings name them
    manifests: tuple[str, ...]  # the manifests written


def adopt(project: str | Path = ".") -> AdoptResult:
    """Record every ``.sql`` file in the migrations directory that no spec produces as adopted: kept byte
    for byte, checked like a published file, and applied in version order with the generated ones.

    Refuses (writing nothing) a file the first user's loader would read otherwise, one that shares its
    integer version with another, and, once the manifest records anything, one numbered at or below
    what it records (:func:`~schemac.migrations.adoption.adoptable`).
    """
    settings = _settings(project)
    require_specs_dir(settings)
    with project_lock(settings.root):
        specs, _ = discover(settings)
        steps, _ = discover_steps(settings)
        produced_by_specs = {f"{f.prefix}_{f.slug}.sql": f.version for f in specs if not _is_baseline(f)}
        changes: dict[str, bytes] = {}
        adopted: list[str] = []
        problems = []
        for name in settings.dialects:
            produced = produced_by_specs | {s.file: s.version for s in steps if s.dialect in (None, name)}
            published = locate(settings, name)
            manifest = published.manifest or Manifest(name, ())
            found, refused = adoptable(published.directory, published.manifest, produced, settings)
            problems += refused
            if not found:
                continue
            adopted += [settings.relative(published.directory / a.file) for a in found]
            whole = dataclasses.replace(
                manifest, adopted=tuple(sorted((*manifest.adopted, *found), key=lambda a: a.version))
            )
            path = published.directory / MANIFEST_NAME
            changes[path.relative_to(settings.migrations_dir).as_posix()] = whole.to_text().encode("utf-8")
        if problems:
            raise SchemacError(problems)
        if changes:
            publish(settings.migrations_dir, changes, settings.relative(settings.migrations_dir))
    shown = tuple(settings.relative(settings.migrations_dir / name) for name in sorted(changes))
    return AdoptResult(tuple(adopted), shown)


def _is_baseline(spec: SpecFile) -> bool:
    """Whether ``spec`` is marked ``baseline: true`` (it then produces no file); one that cannot be read is not."""
    try:
        return (
            load_document(read_bytes(spec.path, spec.display, root=spec.root), spec.display).data.get("baseline")
            is True
        )
    except (SchemacError, AttributeError):
        return False


@dataclass(frozen=True)
class RebaseResult:
    """What ``rebase`` did: the base, each spec moved (from, to), the base's files taken as they are, the moved
    versions' migration files removed, and the build that followed (``None`` on a dry run)."""

    onto: str
    moved: tuple[tuple[str, str], ...]
    taken: tuple[str, ...]
    removed: tuple[str, ...]
    built: BuildResult | None


def rebase(
    project: str | Path = ".", onto: str | None = None, dry_run: bool = False, *, cache: bool = True
) -> RebaseResult:
    """Take the specs, migrations and manifest the base (git ref ``onto``) published as they are, renumber
    this branch's specs that the base lacks above its newest version, and build.

    ``onto`` defaults to the commit an unfinished ``git rebase`` replays onto, else the branch's upstream when
    it tracks another branch, else ``main``, else ``origin/main``. Refuses (SC535, changing nothing) when a
    spec the base published differs here. With ``dry_run``, changes nothing and builds nothing. When the
    build fails after the renames, its findings come with SC536: ``build`` (or ``rebase``) finishes the job.
    """
    from schemac.migrations.rebase import carry_out, plan_rebase

    settings = _settings(project)
    require_specs_dir(settings)
    with project_lock(settings.root):
        planned = plan_rebase(settings, onto)
        if not dry_run:
            carry_out(settings, planned)
    result = RebaseResult(
        planned.onto,
        tuple((settings.relative(old), settings.relative(new)) for old, new in planned.moves),
        tuple(settings.relative(path) for path, _ in planned.taken),
        tuple(settings.relative(path) for path in planned.removed),
        None,
    )
    if dry_run:
        return result
    try:
        built = build(settings.root, cache=cache)
    except SchemacError as exc:
        moved = "".join(f"; moved {old} -> {new}" for old, new in result.moved)
        stopped = Diagnostic(
            settings.relative(settings.specs_dir),
            1,
            1,
            "SC536",
            f"took the migrations {planned.onto} published{moved}; then the build failed",
            "fix the build's findings and run schemac build (or schemac rebase again)",
        )
        raise SchemacError([*exc.diagnostics, stopped], exc.exit_code) from None
    return dataclasses.replace(result, built=built)


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
    a published version whose spec is unchanged is kept as published, however it renders now). Writes nothing."""
    settings = _settings(project)
    compiled = compile_project(settings)
    planned = []
    problems: list[Diagnostic] = []
    for output in compiled.outputs:
        published = locate(settings, output.dialect)
        problems += drifts.numbering_problems(output, published).values()
        problems += [d for d in replay_findings(output, published, settings) if d.severity == "error"]
    if problems:
        raise SchemacError(problems)
    plans = {plan.spec.version: plan for plan in compiled.plans}
    for output in compiled.outputs:
        manifest = locate(settings, output.dialect).manifest
        recorded = manifest.by_file() if manifest else {}
        for entry in output.manifest.entries:  # the baseline has none: it writes no file
            previous = recorded.get(entry.file)
            if previous is not None and previous.spec_sha256 == entry.spec_sha256:
                continue
            if entry.version in plans:
                dialect = compiled.settings.dialect(output.dialect)
                ops = render.dialect_operations(plans[entry.version], dialect)
                kept = behaviours.kept_rowid_keys(ops, dialect, compiled.settings.plain_keys_from)
                operations = (*(op.describe() for op in ops), *kept)
            else:
                operations = (f"run the raw SQL step {entry.spec} as it is",)
            if entry.version == compiled.settings.audit_defaults_from:
                operations = (AUDIT_DEFAULTS_NOTE, *operations)
            planned.append(
                PlannedVersion(
                    output.dialect,
                    entry.version,
                    entry.spec,
                    settings.relative(output.directory / entry.file),
                    "new" if previous is None else "changed",
                    operations,
                    output.files[entry.file].decode("utf-8"),
                    entry.non_idempotent,
                )
            )
    return tuple(planned)


AUDIT_DEFAULTS_NOTE = (
    "audit defaults take effect at this version ([audit] defaults = true): the created_at and updated_at "
    "columns of every table default to the current time from here on"
)
"""What ``plan`` says first for the version where the setting takes effect (it changes tables the spec
does not list)."""


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
    has_settings = present(root / "schemac.toml") or (
        pyproject.is_file()
        and b"[tool.schemac" in read_bytes(pyproject, "pyproject.toml", MAX_SETTINGS_BYTES, root=root.resolve())
    )
    if not has_settings:
        settings_text = DEFAULT_SETTINGS.replace("[tool.schemac]\n", "").replace("[tool.schemac.audit]", "[audit]")
        _create(root / "schemac.toml", settings_text)
        created.append("schemac.toml")
    schema_copy = root / SCHEMA_FILE
    if not present(schema_copy):
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


def next_version_prefix(settings: Settings) -> str:
    """The next free version, as a spec file's prefix: above every spec and step and every file the
    manifests record (published, adopted, the baseline), in the style of the highest of them (its width
    kept: ``013`` → ``014``, ``20251110`` → ``20251111``; ``0001`` in an empty project)."""
    files, _ = discover(settings)
    numbered = [(f.version, f.prefix) for f in files] + [(s.version, s.prefix) for s in discover_steps(settings)[0]]
    for name in settings.dialects:
        manifest = locate(settings, name).manifest
        newest = manifest.newest() if manifest is not None else None
        if newest is not None:  # its file (the baseline's: its spec) gives the style
            numbered.append((newest[0], Path(newest[1]).name.split("_", 1)[0]))
    version, prefix = max(numbered, default=(0, "0000"))
    return f"{version + 1:0{len(prefix)}d}"


def new(
    project: str | Path,
    slug: str,
    description: str = "Describe what this version changes.",
    *,
    from_tables: Sequence[str] = (),
) -> Path:
    """Create the next spec, numbered above every spec and every file the manifests record (published and
    adopted), in the style of the highest of them: its width kept (``013`` → ``014``, ``20251110`` → ``20251111``).

    With ``from_tables`` the spec starts with those tables' current shape, copied from the spec that last
    listed each (comments kept; :mod:`schemac.project.shapes`), so that a change is an edit.
    """
    settings = _settings(project)
    if SPEC_NAME.fullmatch(f"0_{slug}.yaml") is None:
        raise fail("<slug>", 1, 1, "SC112", f"slug '{slug}' must match [a-z0-9_]+")
    head = f"{schema_comment(settings)}description: {_yaml_string(description)}\n"
    if from_tables:
        from schemac.project.shapes import current_shapes

        text = head + current_shapes(settings, list(from_tables))
    else:
        text = STARTER.format(schema_comment=schema_comment(settings), description=_yaml_string(description))
    settings.specs_dir.mkdir(parents=True, exist_ok=True)
    path = settings.specs_dir / f"{next_version_prefix(settings)}_{slug}.yaml"
    _create(path, text)
    return path
