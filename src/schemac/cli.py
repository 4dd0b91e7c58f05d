"""Command line: a thin shell over :mod:`schemac.api`.

Only typer is imported at start-up; each command imports what it needs, so ``--help`` is fast.
Exit codes: 0 clean, 1 findings or drift, 2 usage or bad input.
"""

from __future__ import annotations

import gc
import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from schemac.dialects.base import Replay
    from schemac.errors import Diagnostic

app = typer.Typer(
    name="schemac",
    help="Compile YAML table specs into immutable, numbered, checksummed SQL migrations, and apply them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=True,
)


class Format(StrEnum):
    text = "text"
    json = "json"
    github = "github"


ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="Project directory (holds specs/).", file_okay=False)
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="How to print findings.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print findings only.")]
CacheOption = Annotated[
    bool, typer.Option("--cache/--no-cache", help="Reuse .schemac-cache/ so that only new specs are compiled.")
]


_secrets: list[str] = []
"""Every password the command's ``--db`` (or SCHEMAC_DB) may hold: nothing printed shows one."""


def _redact(text: str) -> str:
    if not _secrets:
        return text
    from schemac.dialects.connections import mask

    return mask(text, _secrets)


def _escape(text: str, *, property_value: bool = False) -> str:
    """GitHub workflow-command escaping: ``%``, CR and LF always; ``:`` and ``,`` in property values; and,
    as in text output, every other control or invisible character as an escape and ``\\`` doubled."""
    from schemac.errors import printable

    text = printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def github_annotation(d: Diagnostic) -> str:
    """One finding as a GitHub Actions annotation: ``::error file=…,line=…,col=…,title=…::message``."""
    level = "error" if d.severity == "error" else "warning"
    message = f"{d.code} {d.message}" + (f" (hint: {d.hint})" if d.hint else "")
    where = f"file={_escape(d.file, property_value=True)},line={d.line},col={d.column}"
    return f"::{level} {where},title={_escape(d.code, property_value=True)}::{_escape(message)}"


def _print_diagnostics(diagnostics: Sequence[Diagnostic], fmt: Format) -> None:
    """Findings in the chosen format: text on stderr; json (one list, ``[]`` when clean) and github on stdout."""
    if _secrets:
        from dataclasses import replace

        diagnostics = [
            replace(d, file=_redact(d.file), message=_redact(d.message), hint=_redact(d.hint)) for d in diagnostics
        ]
    if fmt is Format.json:
        print(json.dumps([d.as_dict() for d in diagnostics], indent=2))
        return
    for d in diagnostics:
        if fmt is Format.github:
            print(github_annotation(d))
        else:
            print(str(d), file=sys.stderr)


@contextmanager
def _reported(fmt: Format) -> Iterator[None]:
    """Run a command's work: a :class:`~schemac.errors.SchemacError` prints its findings in ``fmt`` and
    exits with its code (1 findings or drift, 2 usage or bad input); nothing after the block runs."""
    from schemac.errors import SchemacError

    try:
        yield
    except SchemacError as exc:
        _print_diagnostics(exc.diagnostics, fmt)
        raise typer.Exit(exc.exit_code) from None


def _say(quiet: bool, fmt: Format, message: str) -> None:
    if not quiet and fmt is Format.text:
        print(_redact(message))


@app.command()
def init(project: ProjectOption = Path(".")) -> None:
    """Create specs/, migrations/, settings and a copy of the spec JSON Schema."""
    from schemac import api as commands

    with _reported(Format.text):
        created = commands.init(project)
    print(f"initialised {project}: " + (", ".join(created) if created else "nothing to create"))


@app.command()
def new(
    slug: Annotated[str, typer.Argument(help="Short name: a-z, 0-9 and _.")],
    project: ProjectOption = Path("."),
    description: Annotated[str, typer.Option(help="The spec's description.")] = "Describe what this version changes.",
    from_tables: Annotated[
        str | None,
        typer.Option("--from", help="Start with these tables' current shape (comma-separated), to edit."),
    ] = None,
) -> None:
    """Create the next spec with the next free version."""
    from schemac import api as commands

    with _reported(Format.text):
        tables = [name.strip() for name in from_tables.split(",")] if from_tables is not None else []
        path = commands.new(project, slug, description, from_tables=tables)
    print(path)


@app.command()
def adopt(project: ProjectOption = Path("."), fmt: FormatOption = Format.text, quiet: QuietOption = False) -> None:
    """Record the hand-written .sql files in migrations/ that no spec produces: kept as they are, checked like
    published files."""
    from schemac import api as commands

    with _reported(fmt):
        result = commands.adopt(project)
    _print_diagnostics([], fmt)
    for path in result.adopted:
        _say(quiet, fmt, f"adopted {path}")
    _say(
        quiet,
        fmt,
        f"{len(result.adopted)} adopted" + (f", wrote {', '.join(result.manifests)}" if result.manifests else ""),
    )


@app.command()
def validate(project: ProjectOption = Path("."), fmt: FormatOption = Format.text, quiet: QuietOption = False) -> None:
    """Check every spec and print every finding; writes nothing."""
    from schemac import api as commands

    with _reported(fmt):
        result = commands.validate(project)
    _print_diagnostics([], fmt)
    _say(quiet, fmt, f"{result.specs} specs, {result.tables} tables: valid")


@app.command()
def build(
    version: Annotated[
        int | None,
        typer.Argument(
            metavar="[VERSION]",
            help="With --amend: render this published version and every later one again, once no known database "
            "has applied it.",
            show_default=False,
        ),
    ] = None,
    project: ProjectOption = Path("."),
    amend: Annotated[
        bool,
        typer.Option(
            help="Render the newest published version again (while it has not left your branch); "
            "--amend VERSION: that version and every later one."
        ),
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="With --amend VERSION (required): why, recorded in the manifest.")
    ] = None,
    db: Annotated[
        list[str] | None,
        typer.Option(
            "--db",
            help="With --amend VERSION: one more database to ask (repeatable); every environment and SCHEMAC_DB "
            "are asked anyway.",
        ),
    ] = None,
    unverified_env: Annotated[
        list[str] | None,
        typer.Option(
            "--unverified-env",
            metavar="NAME",
            help="With --amend VERSION: amend even if environment NAME cannot be reached (repeatable).",
        ),
    ] = None,
    ask_env: Annotated[
        list[str] | None,
        typer.Option(
            "--ask-env",
            metavar="NAME",
            help="With --amend VERSION: ask environment NAME although its URL in the settings names another "
            "machine (repeatable); such an environment is not contacted otherwise.",
        ),
    ] = None,
    no_known_database: Annotated[
        bool,
        typer.Option(
            "--no-known-database",
            help="With --amend VERSION: amend although no database of an engine whose files change is known "
            "(the manifest records it).",
        ),
    ] = False,
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
    cache: CacheOption = True,
) -> None:
    """Compile specs into migrations/*.sql and migrations/manifest.json."""
    from schemac import api as commands
    from schemac.dialects.connections import url_secrets
    from schemac.migrations.amending import environment_secrets
    from schemac.project.environments import DATABASE_VARIABLE
    from schemac.project.progress import Progress
    from schemac.project.settings import load_settings

    if version is not None and not amend:
        raise typer.BadParameter(f"a VERSION goes with --amend: schemac build --amend {version}")
    if version is None and (reason is not None or db or unverified_env or ask_env or no_known_database):
        raise typer.BadParameter(
            "--reason, --db, --unverified-env, --ask-env and --no-known-database go with --amend VERSION"
        )
    _secrets[:] = [s for url in [*(db or ()), os.environ.get(DATABASE_VARIABLE, "")] for s in url_secrets(url)]
    with _reported(fmt), Progress(quiet=quiet) as progress:
        if version is not None:  # every environment may be asked: none of their passwords is shown
            _secrets[:] = sorted({*_secrets, *environment_secrets(load_settings(project))}, key=len, reverse=True)
        result = commands.build(
            project,
            amend=version if version is not None else amend,
            reason=reason,
            db=db or (),
            unverified_env=unverified_env or (),
            ask_env=ask_env or (),
            no_known_database=no_known_database,
            cache=cache,
            progress=progress,
        )
    _print_diagnostics([], fmt)
    for path in result.written:
        _say(quiet, fmt, f"wrote {path}")
    for path, amended in result.amendments:
        asked = ", ".join(amended.databases) or "none"
        unverified = f"; unverified: {', '.join(amended.unverified)}" if amended.unverified else ""
        unverified += "; no database of its engine known" if amended.no_known_database else ""
        _say(quiet, fmt, f"amended {path} (version {amended.version}; databases asked: {asked}{unverified})")
    _say(quiet, fmt, f"{len(result.written)} written, {len(result.unchanged)} unchanged")


@app.command()
def check(
    project: ProjectOption = Path("."),
    base: Annotated[
        str | None,
        typer.Option(help="Git ref: also fail when a version published there was changed, removed or reordered."),
    ] = None,
    allow_amendments: Annotated[
        bool,
        typer.Option(
            "--allow-amendments",
            help="With --base: report each build --amend VERSION recorded since the ref as a warning, not an error.",
        ),
    ] = False,
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
    cache: CacheOption = True,
) -> None:
    """Rebuild in memory and fail (exit 1) on any difference from the files on disk; warnings alone exit 0."""
    from schemac import api as commands
    from schemac.errors import EXIT_FINDINGS

    if allow_amendments and base is None:
        raise typer.BadParameter("--allow-amendments goes with --base REF")
    with _reported(fmt):
        result = commands.check(project, base=base, allow_amendments=allow_amendments, cache=cache)
    _print_diagnostics([d.diagnostic for d in result.drift], fmt)
    if fmt is Format.text:
        for drift in result.drift:
            if drift.diff:
                print(drift.diff, end="" if drift.diff.endswith("\n") else "\n")
    if not result.ok:  # warnings alone (a version kept as published, a published file the replay refused) exit 0
        raise typer.Exit(EXIT_FINDINGS)
    kept = sum(d.kind == "kept" for d in result.warnings)
    notes = [f"{kept} kept as published"] if kept else []
    notes += [f"{len(result.warnings) - kept} warnings"] if len(result.warnings) > kept else []
    _say(quiet, fmt, f"{result.files} files match the specs" + (f" ({', '.join(notes)})" if notes else ""))


@app.command()
def rebase(
    project: ProjectOption = Path("."),
    onto: Annotated[
        str | None,
        typer.Option(
            help="Git ref whose published versions stay (default: what an unfinished git rebase replays onto, "
            "else the branch's upstream when it tracks another branch, else main, else origin/main)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the moves; change nothing.")] = False,
    cache: CacheOption = True,
) -> None:
    """Renumber this branch's new specs above the versions the base published, take the base's migrations and
    manifest as they are, and build (two branches added the same version)."""
    from schemac import api as commands

    with _reported(Format.text):
        result = commands.rebase(project, onto, dry_run, cache=cache)
    take, remove, move = ("would take", "would remove", "would move") if dry_run else ("took", "removed", "moved")
    for path in result.taken:
        print(f"{take} {path} from {result.onto}")
    for path in result.removed:
        print(f"{remove} {path}")
    for old, new in result.moved:
        print(f"{move} {old} -> {new}")
    if result.built is None:
        print(f"{len(result.moved)} to move onto {result.onto} (dry run: nothing changed)")
        return
    for path in result.built.written:
        print(f"wrote {path}")
    print(
        f"{len(result.moved)} moved onto {result.onto}; "
        f"{len(result.built.written)} written, {len(result.built.unchanged)} unchanged"
    )


@app.command()
def plan(
    project: ProjectOption = Path("."),
    sql: Annotated[bool, typer.Option("--sql", help="Print only the SQL, per version and dialect.")] = False,
    fmt: FormatOption = Format.text,
) -> None:
    """Show the operations and SQL the next build would write, per spec not yet built; writes nothing."""
    from dataclasses import asdict

    from schemac import api as commands

    with _reported(fmt):
        planned = commands.plan_changes(project)
    if fmt is not Format.text:
        print(json.dumps([asdict(p) for p in planned], indent=2))
        return
    if sql:
        for item in planned:
            print(f"-- version {item.version} ({item.dialect}, {item.status}): {item.file}")
            print(item.sql)
        print(f"-- {len(planned)} version(s) to build")
        return
    for item in planned:
        print(f"{item.spec} -> {item.file} ({item.dialect}, {item.status})")
        for operation in item.operations:
            print(f"  {operation}")
        for statement in item.non_idempotent:
            print(f"  not re-runnable: {statement}")
        print()
        print(item.sql)
    print(f"{len(planned)} version(s) to build")


@app.command()
def lint(project: ProjectOption = Path("."), fmt: FormatOption = Format.text, quiet: QuietOption = False) -> None:
    """Run the SC9xx lint rules on the compiled schema; exit 1 when a finding has error severity."""
    from schemac.errors import EXIT_FINDINGS
    from schemac.rules import lint as lint_project

    with _reported(fmt):
        result = lint_project(project)
    _print_diagnostics(result.findings, fmt)
    _say(quiet, fmt, f"{result.errors} errors, {result.warnings} warnings")
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def docs(
    project: ProjectOption = Path("."),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Markdown file to write (default: the docs setting).")
    ] = None,
    check: Annotated[bool, typer.Option(help="Write nothing; exit 1 when the file is missing or out of date.")] = False,
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
) -> None:
    """Write the Markdown data dictionary with a Mermaid ER diagram (default docs/schema.md)."""
    from schemac.datadict import docs as write_docs

    with _reported(fmt):
        result = write_docs(project, output, check=check)
    _print_diagnostics([], fmt)
    state = "wrote" if result.written else "up to date:"
    _say(quiet, fmt, f"{state} {result.path} ({result.tables} tables)")


@app.command()
def schema() -> None:
    """Print the JSON Schema of spec files (point an editor's YAML support at it)."""
    from schemac import api as commands

    print(commands.schema(), end="")


def _database(value: str | None) -> str | None:
    """Note the passwords ``--db`` may hold, so that no output of the command shows them."""
    from schemac.dialects.connections import url_secrets

    _secrets[:] = url_secrets(value or "")
    return value


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SCHEMAC_DB",
        callback=_database,
        help="Database: a SQLite path, sqlite:///, postgresql://, mariadb:// or mysql:// URL "
        "(default: --env's, else the SCHEMAC_DB environment variable, which keeps a password off the command line).",
    ),
]
EnvOption = Annotated[
    str | None,
    typer.Option("--env", help="Use the database of this environment of the settings ([environments.NAME], db = ...)."),
]


def _database_url(ctx: typer.Context, project: Path, db: str | None, env: str | None) -> str:
    """``--db``, else ``--env``'s database, else ``SCHEMAC_DB``; its passwords noted so that no output shows them."""
    from schemac.project.environments import database_url
    from schemac.project.settings import load_settings

    source = ctx.get_parameter_source("db")
    if env is not None and source is not None and source.name == "ENVIRONMENT":
        db = None  # --env, given on the command line, wins over SCHEMAC_DB
    url, secrets = database_url(load_settings(project), db, env)
    _secrets[:] = secrets
    return url


LOCK_TIMEOUT_LIMIT = 2_147_483.0
"""The longest wait, in seconds, that PostgreSQL's ``lock_timeout`` can hold (2^31 - 1 ms, about 24 days)."""


def _lock_timeout(value: float) -> float:
    if not (math.isfinite(value) and 0 <= value <= LOCK_TIMEOUT_LIMIT):
        raise typer.BadParameter(f"must be a number of seconds from 0 to {LOCK_TIMEOUT_LIMIT:.0f}, not {value}")
    return value


@app.command()
def apply(
    ctx: typer.Context,
    db: DbOption = None,
    env: EnvOption = None,
    project: ProjectOption = Path("."),
    to: Annotated[int | None, typer.Option("--to", help="Apply up to and including this version.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the SQL of each pending migration; create or change nothing.")
    ] = False,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another applier (0: do not wait).", callback=_lock_timeout)
    ] = 300.0,
    out_of_order: Annotated[
        bool,
        typer.Option(
            "--out-of-order", help="Also run pending versions below the newest applied one (refused otherwise)."
        ),
    ] = False,
    lock_retries: Annotated[
        int,
        typer.Option(min=0, help="Times to try a step again that gave up waiting for a lock (PostgreSQL)."),
    ] = 5,
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
) -> None:
    """Apply pending migrations in order, each in its own transaction, recorded in schemac_history."""
    from schemac.applier import AppliedMigration
    from schemac.applier import apply as run

    def progress(done: AppliedMigration) -> None:
        if not quiet and fmt is Format.text and sys.stdout.isatty():
            print(f"applied {done.file} ({done.execution_ms} ms)", flush=True)
            for line, asked in done.algorithms:
                print(f"  line {line}: {asked}", flush=True)

    with _reported(fmt):
        result = run(
            project,
            _database_url(ctx, project, db, env),
            to=to,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            out_of_order=out_of_order,
            on_applied=progress,
            lock_retries=lock_retries,
        )
    if fmt is Format.json:
        listed = [
            {"version": m.version, "name": m.name, "execution_ms": m.execution_ms}
            | ({"algorithms": [{"line": line, "asked": asked} for line, asked in m.algorithms]} if m.algorithms else {})
            | ({"lock_retries": m.lock_retries} if m.lock_retries else {})
            | ({"rebuilt_indexes": list(m.rebuilt_indexes)} if m.rebuilt_indexes else {})
            for m in result.applied
        ]
        pending: list[dict[str, object]] = [
            {"version": m.version, "name": m.name, "file": f"{result.directory}/{m.file}"}
            | ({"sql": result.sql(m)} if result.dry_run else {})
            for m in result.pending
        ]
        print(json.dumps({"applied": listed, "pending": pending, "dry_run": result.dry_run}, indent=2))
    if result.dry_run:
        if fmt is Format.text:
            for m in result.pending:
                ran = result.resumed.get(m.version)
                resumes = f", resuming after statement {ran}: a run stopped there" if ran else ""
                print(f"-- version {m.version}: {result.directory}/{m.file}{resumes}")
                print(result.sql(m))
        _say(quiet, fmt, f"-- {len(result.pending)} pending (dry run: nothing applied)")
    else:
        if result.cluster:
            _say(quiet, fmt, result.cluster)
        for done in result.applied:
            if done.lock_retries:
                times = f"{done.lock_retries} time{'s' if done.lock_retries > 1 else ''}"
                _say(quiet, fmt, f"{done.file}: waited for a lock and tried again {times} (lock_timeout)")
            if done.rebuilt_indexes:
                rebuilt = ", ".join(done.rebuilt_indexes)
                _say(quiet, fmt, f"{done.file}: rebuilt {rebuilt}, left invalid by a failed build")
        _say(quiet, fmt, f"{len(result.applied)} applied; {result.database} is at version {result.current_version}")


@app.command()
def status(
    ctx: typer.Context,
    db: DbOption = None,
    env: EnvOption = None,
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.text,
) -> None:
    """List applied, pending, partial, changed and unknown versions; exit 1 saying why when any needs attention."""
    from schemac.applier import status as run
    from schemac.errors import EXIT_FINDINGS

    with _reported(fmt):
        result = run(project, _database_url(ctx, project, db, env))
    if fmt is Format.json:
        print(
            json.dumps(
                [
                    {
                        "version": e.version,
                        "name": e.name,
                        "state": e.state,
                        "applied_at": e.applied_at,
                        "statements_done": e.statements_done,
                        "statements": e.statements,
                    }
                    for e in result.entries
                ],
                indent=2,
            )
        )
    else:
        for e in result.entries:
            extra = f"  {e.statements_done} of {e.statements} statements ran" if e.state == "partial" else ""
            print(f"{e.state:<8} {e.version:>6}  {e.file or e.name}" + (f"  {e.applied_at}" if e.applied_at else extra))
    _say_standby(result.standby, fmt)
    if fmt is not Format.json:
        _print_diagnostics(result.findings, fmt)
    if not result.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _say_standby(standby: Replay | None, fmt: Format) -> None:
    """Where a standby is in its primary's log: with the text output, else on stderr (stdout stays parseable)."""
    if standby is not None:
        print(_redact(str(standby)), file=sys.stdout if fmt is Format.text else sys.stderr)


@app.command()
def verify(
    ctx: typer.Context,
    db: DbOption = None,
    env: EnvOption = None,
    project: ProjectOption = Path("."),
    wait_for_replay: Annotated[
        float | None,
        typer.Option(
            "--wait-for-replay",
            metavar="SECONDS",
            help="On a standby, first wait up to SECONDS for it to replay the primary's log (exit 1 if it does not).",
            callback=lambda value: value if value is None else _lock_timeout(value),
        ),
    ] = None,
    primary: Annotated[
        str | None,
        typer.Option(
            "--primary",
            metavar="URL",
            envvar="SCHEMAC_PRIMARY_DB",
            help="The standby's primary: --wait-for-replay waits for its log position, and check bodies and "
            "defaults are compared in its session (default: the SCHEMAC_PRIMARY_DB environment variable).",
        ),
    ] = None,
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
) -> None:
    """Compare the live schema with the specs; exit 1 listing every difference."""
    from schemac.applier.verification import verify as run
    from schemac.dialects.connections import url_secrets
    from schemac.errors import EXIT_FINDINGS

    with _reported(fmt):
        url = _database_url(ctx, project, db, env)
        _secrets[:] = sorted({*_secrets, *url_secrets(primary or "")}, key=len, reverse=True)
        result = run(project, url, wait_for_replay=wait_for_replay, primary=primary)
    if not quiet:
        _say_standby(result.standby, fmt)
    _print_diagnostics([*result.differences, *result.warnings], fmt)
    if result.differences:
        raise typer.Exit(EXIT_FINDINGS)
    unchecked = " except check bodies and defaults, not compared" if result.warnings else ""  # SC643
    _say(quiet, fmt, f"{result.database} matches the specs at version {result.version}{unchecked}")


@app.command()
def baseline(
    ctx: typer.Context,
    db: DbOption = None,
    env: EnvOption = None,
    project: ProjectOption = Path("."),
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            help="Record up to and including this version (default: the newest adopted file's or the baseline spec's).",
        ),
    ] = None,
    lock_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for another applier (0: do not wait).", callback=_lock_timeout)
    ] = 300.0,
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
) -> None:
    """Record the migrations up to a version as applied without running them, once the live schema matches
    the specs there (a database another runner migrated)."""
    from schemac.applier.baselining import baseline as run

    with _reported(fmt):
        result = run(project, _database_url(ctx, project, db, env), version, lock_timeout=lock_timeout)
    if fmt is Format.json:
        print(json.dumps({"version": result.version, "recorded": list(result.recorded)}, indent=2))
    for file in result.files:
        _say(quiet, fmt, f"recorded {file}")
    _say(quiet, fmt, f"{len(result.recorded)} recorded as applied; {result.database} is at version {result.version}")


@app.command("import")
def import_(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="SCHEMAC_DB",
            callback=lambda value: _database(value) if value else value,
            help="Database to read: a SQLite path, sqlite:///, postgresql://, mariadb:// or mysql:// URL "
            "(default: the SCHEMAC_DB environment variable, unless --from-sql is given).",
        ),
    ] = None,
    from_sql: Annotated[
        Path | None,
        typer.Option(
            "--from-sql",
            help="Directory of .sql files to run, in loader order, into an in-memory SQLite database and read.",
            file_okay=False,
        ),
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Write the baseline spec (baseline: true) at the newest adopted version.")
    ] = False,
    tables: Annotated[str | None, typer.Option("--tables", help="Only these tables, comma-separated.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit 1, write nothing) on anything not imported as it is.")
    ] = False,
    slug: Annotated[
        str | None, typer.Option("--slug", help="The spec's slug (default: import, or baseline with --baseline).")
    ] = None,
    env: EnvOption = None,
    project: ProjectOption = Path("."),
    fmt: FormatOption = Format.text,
    quiet: QuietOption = False,
) -> None:
    """Write a spec describing a live database's tables, or those a directory of SQL files builds."""
    from schemac.importing.importer import import_spec

    source = ctx.get_parameter_source("db")
    if from_sql is not None and source is not None and source.name == "ENVIRONMENT":
        db = None  # SCHEMAC_DB is for --db alone: --from-sql names the source
    with _reported(fmt):
        if env is not None:
            db = _database_url(ctx, project, db, env)
        result = import_spec(
            project,
            db=db,
            from_sql=from_sql,
            baseline=baseline,
            tables=tables.split(",") if tables is not None else None,
            strict=strict,
            slug=slug,
        )
    _print_diagnostics(result.warnings, fmt)
    count = len(result.tables)
    _say(quiet, fmt, f"wrote {result.file} ({count} table{'' if count == 1 else 's'})")
    for file in result.files[1:]:
        note = (
            f"; the database has them: schemac baseline --version {int(Path(file).name.split('_', 1)[0])}"
            if baseline
            else ""
        )
        _say(quiet, fmt, f"wrote {file} (the foreign keys that close a cycle, which one spec cannot create{note})")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"schemac {version('schemac')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Compile YAML table specs into immutable, numbered, checksummed SQL migrations, and apply them."""


def main() -> None:
    """Console entry point: findings never show a traceback; internal errors only with SCHEMAC_DEBUG=1."""
    # One command, then exit: the cyclic collector would only walk, again and again, the many
    # long-lived objects a build holds (half a second at 10,000 tables) and find nothing to free.
    gc.disable()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # an internal error, not bad input
        if os.environ.get("SCHEMAC_DEBUG"):
            raise
        print(
            f"schemac: internal error: {type(exc).__name__}: {_redact(str(exc))} (set SCHEMAC_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        sys.exit(2)
    finally:
        # Spare the exit, too, the collector's pass over every object the build made (tens of
        # milliseconds on large projects); objects are still finalised as usual.
        gc.freeze()
