"""The pipeline: spec files → documents → models → audit → plans → SQL text and manifest, in memory.

Nothing here writes files: ``build`` writes what this returns, ``check`` compares it with disk.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import audit, dialects, expressions, render
from .errors import Diagnostic, SchemacError
from .manifest import MANIFEST_NAME, Manifest, ManifestEntry, sha256_hex
from .model import Spec, spec_from_document
from .plan import VersionPlan, plan
from .progress import ProgressCallback, no_progress
from .settings import Settings
from .source import SPEC_NAME, load_document, read_bytes
from .validate import check_document


@dataclass(frozen=True)
class SpecFile:
    path: Path
    display: str
    version: int
    prefix: str
    slug: str


@dataclass(frozen=True)
class Output:
    """One dialect's generated directory: file name → bytes, the manifest included."""

    dialect: str
    directory: Path
    files: dict[str, bytes]
    manifest: Manifest


@dataclass(frozen=True)
class Compiled:
    settings: Settings
    specs: tuple[Spec, ...]
    plans: tuple[VersionPlan, ...]
    outputs: tuple[Output, ...]


def discover(settings: Settings) -> tuple[list[SpecFile], list[Diagnostic]]:
    """Spec files in version order; non-conforming names and reused versions are findings."""
    found: list[Diagnostic] = []
    files: list[SpecFile] = []
    if not settings.specs_dir.is_dir():
        shown = settings.relative(settings.specs_dir)
        raise SchemacError(
            [
                Diagnostic(
                    shown,
                    1,
                    1,
                    "SC111",
                    f"specs directory '{shown}' does not exist",
                    "run 'schemac init' or pass --project",
                )
            ]
        )
    for path in sorted(settings.specs_dir.iterdir()):
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
        files.append(SpecFile(path, display, int(prefix), prefix, match.group("slug")))
    files.sort(key=lambda f: (f.version, f.display))
    for before, after in itertools.pairwise(files):
        if before.version == after.version:
            found.append(
                Diagnostic(
                    after.display,
                    1,
                    1,
                    "SC113",
                    f"version {after.version} is already used by {before.display}",
                    "give this spec the next free version (schemac new)",
                )
            )
    return files, found


def read_spec(file: SpecFile, audit_default: tuple[str, ...]) -> tuple[Spec | None, list[Diagnostic]]:
    """Source, validation, model and audit stages for one file."""
    try:
        doc = load_document(read_bytes(file.path, file.display), file.display)
    except SchemacError as exc:
        return None, exc.diagnostics
    found = check_document(doc)
    if found:
        return None, found
    spec, found = spec_from_document(doc, file.version, file.prefix, file.slug, audit_default)
    return audit.inject(spec), found


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The model is many small immutable objects; collecting during the build only costs time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_specs(settings: Settings, progress: ProgressCallback = no_progress) -> tuple[list[Spec], list[Diagnostic]]:
    files, found = discover(settings)
    specs = []
    for number, file in enumerate(files, 1):
        progress(number, len(files), "reading specs")
        spec, problems = read_spec(file, settings.audit_default)
        found.extend(problems)
        if spec is not None:
            specs.append(spec)
    return specs, found


def compile_project(settings: Settings, progress: ProgressCallback = no_progress) -> Compiled:
    """Every generated file of every configured dialect, or a :class:`SchemacError` with all findings."""
    with _gc_paused():
        specs, found = read_specs(settings, progress)
        if any(d.severity == "error" for d in found):
            raise SchemacError(found)
        plans, problems = plan(specs)
        found.extend(problems)
        if "sqlite" in settings.dialects:
            for version in plans:
                found.extend(expressions.check_tables(version.spec, version.declared))
        for name in settings.dialects:
            for version in plans:
                found.extend(dialects.unsupported(dialects.get(name), version.spec, version.declared))
        if any(d.severity == "error" for d in found):
            raise SchemacError(found)
        outputs = tuple(_render_dialect(settings, name, plans, progress) for name in settings.dialects)
    return Compiled(settings, tuple(specs), tuple(plans), outputs)


def _render_dialect(settings: Settings, name: str, plans: list[VersionPlan], progress: ProgressCallback) -> Output:
    dialect = dialects.get(name)
    env = render.environment(name, settings.templates_dir)
    files: dict[str, bytes] = {}
    entries = []
    for number, version in enumerate(plans, 1):
        progress(number, len(plans), f"rendering {name}")
        text, non_idempotent = render.render_version(version, dialect, env)
        data = text.encode("utf-8")
        file = f"{version.spec.stem}.sql"
        files[file] = data
        entries.append(
            ManifestEntry(
                version.spec.version,
                version.spec.slug,
                file,
                sha256_hex(data),
                version.spec.file,
                version.spec.sha256,
                version.fingerprint,
                tuple(non_idempotent),
            )
        )
    manifest = Manifest(name, tuple(entries))
    files[MANIFEST_NAME] = manifest.to_text().encode("utf-8")
    return Output(name, settings.output_dir(name), files, manifest)
