"""Replay: a SQLite project's migrations, adopted and generated, run in a scratch database in version
order, to find what only running them shows.

- A raw SQL step (``specs/<version>_<slug>.sql``) that changes the schema (``SC524``): schema changes
  belong in YAML, where the planner sees them.
- A generated version whose ``CREATE TABLE IF NOT EXISTS`` names a table that an adopted file already
  made (``SC526``): the statement would skip it silently and leave the table as the adopted file made it.
- A file the scratch database cannot run (``SC525``, ``SC528``: see :mod:`schemac.migrations.scratch`).

Only projects with adopted files or raw steps are replayed. A finding about a version the manifest
does not list yet is an error (``build`` refuses it); about a published one, which can no longer
change, a warning. The replay stops at the first file that cannot run.
"""

from __future__ import annotations

import dataclasses
import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schemac.errors import Diagnostic, SchemacError
from schemac.migrations.published import PublishedFiles, read_migration
from schemac.project.inputs import decode
from schemac.project.workers import ChildTimeout, in_child

if TYPE_CHECKING:
    from schemac.project.compiler import Output
    from schemac.project.settings import Settings

LIMIT_HINT = "keep bulk data and heavy queries out of migrations"
HINT_BASELINE = "describe the table in a baseline spec (baseline: true) and change it in a later spec"


REPLAY_SECONDS = 300.0
"""Wall-clock time for the whole replay, in a child process: the step budget bounds loops, this the
few SQLite functions whose one step costs the square of its input (reached only by hostile files)."""


@dataclass(frozen=True)
class _File:
    version: int
    file: str
    shown: str  # as findings about its statements name it: a raw step's own file in specs/, else the migration
    spec: str  # the file that gives it (the migration itself for an adopted file)
    text: str
    adopted: bool
    step: bool
    new: bool  # the manifest does not list it yet


def replay_findings(output: Output, published: PublishedFiles, settings: Settings) -> list[Diagnostic]:
    """Every finding of the replay of ``output`` (one dialect) with the adopted files of ``published``."""
    manifest = published.manifest
    adopted = manifest.adopted if manifest else ()
    entries = output.manifest.entries
    if output.dialect != "sqlite" or not (adopted or any(_is_step(e.spec) for e in entries)):
        return []
    listed = manifest.by_file() if manifest else {}
    files = []
    for a in adopted:
        shown = settings.relative(published.directory / a.file)
        data = read_migration(published.directory / a.file, settings)
        if data is None:
            return []  # the history cannot be replayed without it (SC521 says so)
        files.append(_File(a.version, a.file, shown, shown, decode(data, shown), True, False, False))
    for e in entries:
        step = _is_step(e.spec)
        shown = e.spec if step else settings.relative(output.directory / e.file)
        # A published version runs as it lies on disk (as published), a new one as the specs give it.
        data = read_migration(published.directory / e.file, settings) if e.file in listed else None
        text = (data if data is not None else output.files[e.file]).decode("utf-8", "replace")
        files.append(_File(e.version, e.file, shown, e.spec, text, False, step, e.file not in listed))
    files.sort(key=lambda f: f.version)
    running = mmap.mmap(-1, 8)  # shared with the child: the index of the file it runs, for a timeout
    try:
        return in_child(lambda: _replay(files, running), REPLAY_SECONDS)
    except ChildTimeout as stop:
        file = files[min(int.from_bytes(running[:8], "little"), len(files) - 1)]
        message = f"cannot replay the migrations in a scratch SQLite database: {stop}"
        return [_graded(Diagnostic(file.shown, 1, 1, "SC528", message, LIMIT_HINT), file.new)]
    finally:
        running.close()


def _replay(files: list[_File], running: mmap.mmap) -> list[Diagnostic]:
    from schemac.migrations.scratch import ScratchDatabase  # here: most projects never replay

    found: list[Diagnostic] = []
    made_by: dict[str, str] = {}  # table → the adopted file that made it
    with ScratchDatabase() as scratch:
        for index, file in enumerate(files):
            running[:8] = index.to_bytes(8, "little")
            tables, catalog = scratch.tables(), scratch.catalog()
            try:
                named = scratch.run(file.text, file.shown)
            except SchemacError as exc:
                found += [_graded(d, file.new) for d in exc.diagnostics]
                break
            if file.adopted:
                made_by.update((table, file.file) for table in scratch.tables() - tables)
            elif file.step and scratch.catalog() != catalog:
                message = f"raw SQL step changes the schema: {_change(catalog, scratch.catalog())}"
                hint = "change the schema in a YAML spec; a raw SQL step only changes rows"
                found.append(_graded(Diagnostic(file.shown, 1, 1, "SC524", message, hint), file.new))
            else:
                for table in sorted(named & tables & made_by.keys()):
                    message = (
                        f"table '{table}' already exists after the adopted files ({made_by[table]} made it): "
                        f"{file.file} would skip its CREATE TABLE IF NOT EXISTS and leave the table as it is"
                    )
                    found.append(_graded(Diagnostic(file.spec, 1, 1, "SC526", message, HINT_BASELINE), file.new))
    return found


def _is_step(spec: str) -> bool:
    return spec.endswith(".sql")


def _graded(diagnostic: Diagnostic, new: bool) -> Diagnostic:
    """An error for a version not published yet, a warning for one that can no longer change."""
    if new:
        return diagnostic
    return dataclasses.replace(diagnostic, severity="warning")


def _change(before: tuple[tuple[str, str, str, str], ...], after: tuple[tuple[str, str, str, str], ...]) -> str:
    """The first schema object that ``after`` adds, removes or changes against ``before``, in words."""
    old = {(kind, name): sql for kind, name, _, sql in before}
    new = {(kind, name): sql for kind, name, _, sql in after}
    for key in sorted(old.keys() | new.keys()):
        kind, name = key
        if key not in old:
            return f"it creates {kind} '{name}'"
        if key not in new:
            return f"it drops {kind} '{name}'"
        if old[key] != new[key]:
            return f"it changes {kind} '{name}'"
    return "it changes the database's schema"
