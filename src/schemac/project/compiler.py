"""The pipeline: spec files → documents → models → audit → plans → SQL text and manifest, in memory.

What writes where: :func:`compile_project` writes nothing. :func:`compile_outputs` (``build``,
``check``) with ``use_cache`` also reads and writes the build cache (:mod:`schemac.project.cache`):
``<project>/.schemac-cache/`` (its ``.gitignore`` once, records appended to ``records.pack`` or the
pack written afresh, ``compile.pickle`` replaced) and, the first time this user needs it, the signing
key ``$XDG_CACHE_HOME/schemac/cache.key`` (``~/.cache/schemac/cache.key``); a cache that cannot be
written is skipped. Neither writes a migration or a manifest: ``build`` writes what this returns
(:func:`schemac.project.files.publish`), ``check`` compares it with disk. The work per spec and per
version runs in forked workers (:mod:`schemac.project.workers`), which write nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from schemac import dialects, render
from schemac.errors import Diagnostic, SchemacError, fail
from schemac.migrations.manifest import MANIFEST_NAME, MAX_VERSION, Baseline, Manifest, ManifestEntry, sha256_hex
from schemac.migrations.published import locate
from schemac.model import Spec
from schemac.planner import PlanState, VersionPlan, plan
from schemac.planner.state import Fingerprint
from schemac.project import behaviours, cache
from schemac.project.cache import Rendered
from schemac.project.progress import ProgressCallback, no_progress
from schemac.project.settings import Settings
from schemac.project.steps import discover_steps, step_files
from schemac.project.workers import gc_paused, in_chunks, in_worker
from schemac.spec import audit, dialect_expressions, expressions
from schemac.spec.reader import spec_from_document
from schemac.spec.source import SPEC_NAME, Document, load_document, read_bytes
from schemac.spec.validation import check_document

EMPTY_FINGERPRINT = Fingerprint().hexdigest()
"""The schema fingerprint of no tables: a raw SQL step's before any spec."""


@dataclass(frozen=True)
class SpecFile:
    path: Path
    display: str
    version: int
    prefix: str
    slug: str
    root: Path | None = None
    """The project root (resolved): the spec is read only if it really lies inside it."""


@dataclass(frozen=True)
class Output:
    """One dialect's generated directory: file name → bytes, the manifest included."""

    dialect: str
    directory: Path
    files: Mapping[str, bytes]
    manifest: Manifest


class OutputFiles(Mapping[str, bytes]):
    """File name → bytes, where a file reused from the build cache is read from its pack on first use.

    Should the pack change under a running build (another process rewrote it), the files are
    generated again without the cache.
    """

    def __init__(self, files: dict[str, bytes | Callable[[], bytes]], regenerate: Callable[[], Mapping[str, bytes]]):
        self._files = files
        self._regenerate = regenerate

    def __getitem__(self, name: str) -> bytes:
        value = self._files[name]
        if not isinstance(value, bytes):
            try:
                value = value()
            except cache.StaleCache:
                value = self._regenerate()[name]
            self._files[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


@dataclass(frozen=True)
class Compiled:
    settings: Settings
    specs: tuple[Spec, ...]
    plans: tuple[VersionPlan, ...]
    outputs: tuple[Output, ...]


def require_specs_dir(settings: Settings) -> None:
    """SC111 when the project has no specs directory."""
    if not settings.specs_dir.is_dir():
        shown = settings.relative(settings.specs_dir)
        raise fail(
            shown, 1, 1, "SC111", f"specs directory '{shown}' does not exist", "run 'schemac init' or pass --project"
        )


def discover(settings: Settings) -> tuple[list[SpecFile], list[Diagnostic]]:
    """Spec files in version order; non-conforming names and reused versions are findings."""
    found: list[Diagnostic] = []
    files: list[SpecFile] = []
    require_specs_dir(settings)
    for path in sorted(settings.specs_dir.iterdir(), key=lambda p: p.name):
        if path.name.startswith(".") or path.suffix.lower() not in (".yaml", ".yml"):
            continue
        display = settings.relative(path)
        match = SPEC_NAME.fullmatch(path.name)
        if match is None:
            found.append(
                Diagnostic(
                    display,
                    1,
                    1,
                    "SC112",
                    f"spec file name '{path.name}' does not match <version>_<slug>.yaml",
                    "name it like 0001_create_documents.yaml (slug: a-z, 0-9, _)",
                )
            )
            continue
        prefix = match.group("version")
        if int(prefix) > MAX_VERSION:
            found.append(
                Diagnostic(
                    display,
                    1,
                    1,
                    "SC119",
                    f"version {int(prefix)} is larger than {MAX_VERSION}, the largest every engine and loader holds",
                    "number versions like 0001 or 2026112401",
                )
            )
            continue
        files.append(SpecFile(path, display, int(prefix), prefix, match.group("slug"), settings.root))
    files.sort(key=lambda f: (f.version, f.display))
    steps, problems = discover_steps(settings)
    found += problems
    numbered = sorted(
        [
            *((f.version, f.display, "", "") for f in files),
            *((s.version, s.display, s.slug, s.dialect or "") for s in steps),
        ]
    )
    for before, after in itertools.pairwise(numbered):
        one_step = before[2] and before[2] == after[2] and before[3] and after[3] and before[3] != after[3]
        if before[0] == after[0] and not one_step:  # one step, written once per dialect
            found.append(
                Diagnostic(
                    after[1],
                    1,
                    1,
                    "SC113",
                    f"version {after[0]} is already used by {before[1]}",
                    "give this spec the next free version (schemac new)",
                )
            )
    return files, found


def read_spec(
    file: SpecFile, audit_default: tuple[str, ...], raw: bytes | None = None
) -> tuple[Spec | None, list[Diagnostic]]:
    """Source, validation, model and audit stages for one file (``raw``: its bytes, when already read)."""
    try:
        data = read_bytes(file.path, file.display, root=file.root) if raw is None else raw
        doc = load_document(data, file.display)
    except SchemacError as exc:
        return None, exc.diagnostics
    return spec_of_document(doc, file, audit_default)


def spec_of_document(
    doc: Document, file: SpecFile, audit_default: tuple[str, ...]
) -> tuple[Spec | None, list[Diagnostic]]:
    """Validation, model and audit stages for one parsed file."""
    found = check_document(doc)
    if found:
        return None, found
    spec, found = spec_from_document(doc, file.version, file.prefix, file.slug, audit_default)
    spec = audit.inject(spec)
    for table in spec.tables:
        table.digest  # noqa: B018 -- worked out here, in the reading worker; it travels with the table
    return spec, found


def _shipped(result: tuple[Spec | None, list[Diagnostic]]) -> tuple[Spec | None, list[bytes] | None, list[Diagnostic]]:
    """A read spec as it leaves a worker: without its tables, which travel pickled one by one (in this
    process, as it is, with ``None`` for the pickled tables)."""
    spec, found = result
    if spec is None or not in_worker():
        return spec, None, found
    return dataclasses.replace(spec, tables=()), [pickle.dumps(t, pickle.HIGHEST_PROTOCOL) for t in spec.tables], found


def read_many(
    files: list[SpecFile],
    audit_default: tuple[str, ...],
    raws: list[bytes] | None = None,
    progress: ProgressCallback = no_progress,
) -> tuple[list[Spec], list[Diagnostic], cache.TableRecords]:
    """Read spec files in order; also the pickled form of each table read in a worker, which the build
    cache then stores as it is."""
    contents: list[bytes | None] = list(raws) if raws is not None else [None] * len(files)
    results = in_chunks(
        lambda start, stop: [_shipped(read_spec(files[i], audit_default, contents[i])) for i in range(start, stop)],
        len(files),
        lambda i: progress(i + 1, len(files), "reading specs"),
    )
    specs: list[Spec] = []
    found: list[Diagnostic] = []
    records: cache.TableRecords = {}
    for spec, pickled, problems in results:
        found.extend(problems)
        if spec is not None and pickled is not None:
            tables = tuple(pickle.loads(data) for data in pickled)
            spec = dataclasses.replace(spec, tables=tables)
            records.update((table.name, (table, data)) for table, data in zip(tables, pickled, strict=True))
        if spec is not None:
            specs.append(spec)
    return specs, found, records


def read_specs(settings: Settings, progress: ProgressCallback = no_progress) -> tuple[list[Spec], list[Diagnostic]]:
    files, found = discover(settings)
    specs, problems, _ = read_many(files, settings.audit_default, progress=progress)
    return specs, found + problems


def _fail_on_errors(found: list[Diagnostic]) -> None:
    if any(d.severity == "error" for d in found):
        raise SchemacError(found)


def as_published(settings: Settings) -> dict[str, frozenset[tuple[str, str]]]:
    """Dialect → (spec file, spec SHA-256) of each version its manifest records: a spec as published.

    A manifest that cannot be read records nothing here (the build then says what is wrong with it).
    """
    found: dict[str, frozenset[tuple[str, str]]] = {}
    for name in settings.dialects:
        try:
            manifest = locate(settings, name).manifest
        except SchemacError:
            manifest = None
        entries = manifest.entries if manifest is not None else ()
        baseline = [(manifest.baseline.spec, manifest.baseline.spec_sha256)] if manifest and manifest.baseline else []
        found[name] = frozenset([(e.spec, e.spec_sha256) for e in entries] + baseline)
    return found


def _expression_findings(
    settings: Settings, plans: list[VersionPlan], published: Mapping[str, frozenset[tuple[str, str]]]
) -> list[Diagnostic]:
    """SQLite's verdict on the expressions of every table the plans' specs declare, what a configured
    dialect cannot express in them, and what each dialect would refuse in them (for a spec not yet
    published for that dialect: a published file is changed only by a follow-up spec)."""
    found: list[Diagnostic] = []
    if "sqlite" in settings.dialects:
        for version in plans:
            found.extend(expressions.check_tables(version.spec, version.declared))
    for name in settings.dialects:
        for version in plans:
            found.extend(dialects.unsupported(dialects.get(name), version.spec, version.declared))
    for version in plans:
        spec = version.spec
        fresh = [name for name in settings.dialects if (spec.file, spec.sha256) not in published.get(name, ())]
        if fresh:
            found.extend(dialect_expressions.check_tables(spec, version.declared, fresh))
    return found


def _finish(
    settings: Settings, plans: list[VersionPlan], found: list[Diagnostic], progress: ProgressCallback = no_progress
) -> tuple[list[Diagnostic], dict[str, list[Rendered]]]:
    """Expression findings for the plans, and each dialect's rendered migrations (wasted only on errors).

    With errors in ``found`` already, raises them together with the expression findings. Work
    items are (dialect, version), dialect by dialect; the first dialect's items also probe the
    expressions.
    """
    published = as_published(settings)
    if any(d.severity == "error" for d in found):
        raise SchemacError(found + _expression_findings(settings, plans, published))
    items = [(name, i) for name in settings.dialects for i in range(len(plans))]

    def work(start: int, stop: int) -> list[tuple[list[Diagnostic], Rendered]]:
        return [
            (
                _expression_findings(settings, plans[i : i + 1], published) if name == settings.dialects[0] else [],
                _render_versions(settings, name, plans[i : i + 1])[0],
            )
            for name, i in items[start:stop]
        ]

    def done(item: int) -> None:
        name, i = items[item]
        progress(i + 1, len(plans), f"rendering {name}")

    results = in_chunks(work, len(items), done)
    problems = [d for findings, _ in results for d in findings]
    rendered: dict[str, list[Rendered]] = {name: [] for name in settings.dialects}
    for (name, _), (_, version) in zip(items, results, strict=True):
        rendered[name].append(version)
    return problems, rendered


def compile_project(settings: Settings, progress: ProgressCallback = no_progress) -> Compiled:
    """Every generated file of every configured dialect, or a :class:`SchemacError` with all findings."""
    with gc_paused():
        specs, found = read_specs(settings, progress)
        _fail_on_errors(found)
        settings = behaviours.resolve(settings, [spec.version for spec in specs])
        plans, problems = _plan(specs, settings)
        found.extend(problems)
        problems, rendered = _finish(settings, plans, found, progress)
        _fail_on_errors(found + problems)
        outputs = tuple(_output(settings, name, rendered[name]) for name in settings.dialects)
    return Compiled(settings, tuple(specs), tuple(plans), outputs)


def compile_outputs(
    settings: Settings, *, use_cache: bool = True, progress: ProgressCallback = no_progress
) -> tuple[Output, ...]:
    """The same outputs as :func:`compile_project`, redoing only the specs after the cached ones.

    A cache entry is reused up to (not including) its newest spec, when every earlier spec is
    byte-identical; so adding a spec, or amending the newest, compiles one spec.
    """
    if not use_cache:
        return compile_project(settings, progress).outputs
    try:
        return _compile_with_cache(settings, progress)
    except cache.StaleCache:  # a pack record went missing or changed under the snapshot
        return compile_project(settings, progress).outputs


def _compile_with_cache(settings: Settings, progress: ProgressCallback) -> tuple[Output, ...]:
    with gc_paused():
        files, found = discover(settings)
        raws = [_bytes_or_empty(f) for f in files]
        if found or any(not raw for raw in raws):
            return compile_project(settings, progress).outputs  # reports every finding the usual way
        settings = behaviours.resolve(settings, [f.version for f in files])
        ids = [(f.display, hashlib.sha256(raw).hexdigest()) for f, raw in zip(files, raws, strict=True)]
        cache_key = cache.key(settings)
        snapshot = cache.load(settings, cache_key)
        here = cache.directory(settings)
        if snapshot is not None and snapshot.specs == ids:
            return tuple(_output(settings, name, snapshot.rendered(here, name, len(ids))) for name in settings.dialects)
        resume = 0
        state = PlanState()
        if (
            snapshot is not None
            and 0 < len(snapshot.specs) <= len(ids)
            and snapshot.specs[:-1] == ids[: len(snapshot.specs) - 1]
        ):
            resume, state = len(snapshot.specs) - 1, snapshot.before_last
        # The newest cached spec, unchanged and followed by new ones, is planned again to bring the
        # state up to date, but its file is taken from the cache rather than rendered again.
        reused = resume
        if snapshot is not None and len(snapshot.specs) == resume + 1 < len(ids) and ids[resume] == snapshot.specs[-1]:
            reused = resume + 1
        specs, found, records = read_many(files[resume:], settings.audit_default, raws[resume:], progress)
        _fail_on_errors(found)
        plans, problems = _plan(specs[:-1], settings, state)
        checkpoint = state.copy()
        last, problems_last = _plan(specs[-1:], settings, state)
        plans += last
        found += problems + problems_last
        problems, fresh = _finish(settings, plans[reused - resume :], found, progress)
        _fail_on_errors(found + problems)
        rendered = {
            name: (snapshot.rendered(here, name, reused) if snapshot else []) + fresh[name]
            for name in settings.dialects
        }
        kept = {name: snapshot.outputs[name][:reused] if snapshot else [] for name in settings.dialects}
        located: dict[str, list[tuple[cache.Stored | bytes, ManifestEntry]]] = {
            name: [*kept[name], *((data, entry) for _, data, entry in fresh[name])] for name in settings.dialects
        }
        cache.save(settings, cache_key, ids, located, checkpoint, snapshot, records)
        return tuple(_output(settings, name, rendered[name]) for name in settings.dialects)


def _plan(
    specs: list[Spec], settings: Settings, state: PlanState | None = None
) -> tuple[list[VersionPlan], list[Diagnostic]]:
    """:func:`~schemac.planner.plan` with the versions where ``settings`` (resolved) say behaviours take effect."""
    return plan(specs, state, audit_defaults_from=settings.audit_defaults_from)


def _loader(data: bytes | Callable[[], bytes]) -> Callable[[], bytes]:
    return (lambda: data) if isinstance(data, bytes) else data


def _bytes_or_empty(file: SpecFile) -> bytes:
    """A spec's bytes, or nothing when it cannot be read (the full compile then says why)."""
    try:
        return read_bytes(file.path, file.display, root=file.root)
    except SchemacError:
        return b""


def _render_versions(settings: Settings, name: str, plans: list[VersionPlan]) -> list[Rendered]:
    dialect = settings.dialect(name)
    env = render.environment(name, settings.templates_dir, settings.root)
    rendered: list[Rendered] = []
    for version in plans:
        if version.spec.baseline:  # no file: a manifest entry without one, which _output records as the baseline
            spec = version.spec
            rendered.append(
                ("", b"", ManifestEntry(spec.version, spec.slug, "", "", spec.file, spec.sha256, version.fingerprint))
            )
            continue
        text, non_idempotent = render.render_version(version, dialect, env)
        data = text.encode("utf-8")
        file = f"{version.spec.stem}.sql"
        entry = ManifestEntry(
            version.spec.version,
            version.spec.slug,
            file,
            sha256_hex(data),
            version.spec.file,
            version.spec.sha256,
            version.fingerprint,
            tuple(non_idempotent),
        )
        rendered.append((file, data, entry))
    return rendered


def _output(settings: Settings, name: str, rendered: Sequence[Rendered | cache.Packed]) -> Output:
    """``name``'s output: the rendered versions with the project's raw SQL steps among them, in version order
    (a step's schema fingerprint is the one before it), the baseline recorded apart."""
    steps, _ = discover_steps(settings)  # their findings are the compile's (discover)
    ordered = sorted([*rendered, *step_files(steps, name)], key=lambda item: item[2].version)
    entries: list[ManifestEntry] = []
    baseline = None
    fingerprint = EMPTY_FINGERPRINT
    files: dict[str, bytes | Callable[[], bytes]] = {}
    for file, data, entry in ordered:
        if not file:
            baseline = Baseline(entry.version, entry.name, entry.spec, entry.spec_sha256, entry.schema_fingerprint)
            fingerprint = entry.schema_fingerprint
            continue
        if not entry.schema_fingerprint:
            entry = dataclasses.replace(entry, schema_fingerprint=fingerprint)
        fingerprint = entry.schema_fingerprint
        entries.append(entry)
        files[file] = data
    written = [(entry.version, _loader(data)) for _, data, entry in rendered if entry.file]
    record = behaviours.record(settings, name, written)
    manifest = Manifest(name, tuple(entries), baseline=baseline, behaviours=record)
    files[MANIFEST_NAME] = manifest.to_text().encode("utf-8")

    @functools.cache
    def regenerate() -> Mapping[str, bytes]:
        return next(o.files for o in compile_project(settings).outputs if o.dialect == name)

    return Output(name, settings.output_dir(name), OutputFiles(files, regenerate), manifest)
