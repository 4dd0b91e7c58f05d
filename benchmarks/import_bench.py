"""Measure ``schemac import`` (catalog reader + spec writer) beside each engine's own schema dump.

``python -m benchmarks.import_bench [--tables 1000] [--repeats 3] [--engines sqlite,postgresql,mariadb]
[--json]``. A synthetic project of ``--tables`` tables (:mod:`benchmarks.generate`, without partial
indexes: MariaDB has none) is built and its tables made in a new database on each engine; then, on that
database, each figure is the median of its repeats (the command and the peer take turns, so that a busy
moment of the machine falls on both):

- ``schemac import --db URL --project NEW``: the command writing into a new project (start-up, connect,
  read, map, write), the URL given in ``SCHEMAC_DB`` as a password would be;
- the catalog reader alone, in this process (connect and :func:`schemac.importing.catalog.reader`);
- the peer: ``pg_dump --schema-only``, ``mariadb-dump --no-data``, ``sqlite3 FILE .schema``.

The target is ``schemac import`` of 1,000 tables within 2 x the peer. Servers come from
``SCHEMAC_TEST_PG`` and ``SCHEMAC_TEST_MARIADB`` (the test suite's defaults otherwise); a server that
cannot be reached, or a peer that is not installed, is skipped and the report says so. The databases
made here are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .generate import write_project
from .run import (
    Row,
    Target,
    _cell,
    byte_compile_schemac,
    executable,
    machine,
    machine_lines,
    mariadb_connection,
    median,
    timed,
)

PG_URL = os.environ.get("SCHEMAC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SCHEMAC_TEST_MARIADB", "mariadb://root@127.0.0.1:3306/test")
ENGINES = ("sqlite", "postgresql", "mariadb")
LIMIT = 2.0
"""The target: ``schemac import`` within this many times the engine's own dump."""
PEERS = {"sqlite": "sqlite3 .schema", "postgresql": "pg_dump --schema-only", "mariadb": "mariadb-dump --no-data"}


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


class Unreachable(Exception):
    """A server this run cannot use; the message says why."""


@contextmanager
def new_database(engine: str, work: Path) -> Iterator[str]:
    """The URL of a new, empty database on ``engine``, removed after the block."""
    name = f"schemac_bench_{uuid.uuid4().hex[:10]}"
    if engine == "sqlite":
        yield str(work / f"{name}.sqlite3")
        return
    if engine == "postgresql":
        try:
            import psycopg
        except ImportError:
            raise Unreachable("psycopg not installed (pip install -e '.[postgresql]')") from None
        try:
            with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as server:
                server.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            raise Unreachable(f"PostgreSQL at SCHEMAC_TEST_PG not reachable: {' '.join(str(exc).split())}") from None
        try:
            yield _with_database(PG_URL, name)
        finally:
            with psycopg.connect(PG_URL, autocommit=True) as server:
                server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    try:
        import pymysql  # type: ignore[import-untyped]
    except ImportError:
        raise Unreachable("PyMySQL not installed (pip install -e '.[mariadb]')") from None

    def admin() -> Any:
        return mariadb_connection(MARIADB_URL, with_database=False, timeout=5)

    try:
        connection = admin()
    except pymysql.Error as exc:
        raise Unreachable(f"MariaDB at SCHEMAC_TEST_MARIADB not reachable: {exc}") from None
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    connection.close()
    try:
        yield _with_database(MARIADB_URL, name)
    finally:
        connection = admin()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        connection.close()


def source_project(work: Path, tables: int, engine: str) -> Path:
    """The synthetic project for ``engine``, built; its partial indexes are full ones (MariaDB has none)."""
    import schemac

    root = write_project(work / f"source_{engine}", tables)
    for spec in (root / "specs").glob("*.yaml"):
        spec.write_text(re.sub(r"(?m)^ +where: .*\n", "", spec.read_text(encoding="utf-8")), encoding="utf-8")
    (root / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    schemac.build(root)
    return root


def populate(project: Path, engine: str, url: str) -> None:
    """Make the project's tables in the database at ``url``: ``schemac apply``, but on MariaDB the
    migrations' statements run as they are, in a tenth of the time (the applier records its progress
    after each statement there, as MariaDB commits each DDL statement on its own)."""
    import schemac
    from schemac.applier import split_statements
    from schemac.dialects.connections import connect, parse_url

    if engine != "mariadb":
        schemac.apply(project, url)
        return
    database = connect(parse_url(url), 30)
    try:
        for migration in schemac.load_migrations(project / "migrations", engine):
            for statement in split_statements(migration.sql):
                database.execute(statement.sql)
    finally:
        database.close()


def without_password(url: str) -> tuple[str, str | None]:
    """``url`` without its password, and the password (for the peer's environment, never its command line)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, "")), unquote(parts.password)


def peer_command(engine: str, url: str) -> tuple[list[str], dict[str, str]] | str:
    """The peer's command line and environment, or why it is skipped."""
    program = {"sqlite": "sqlite3", "postgresql": "pg_dump", "mariadb": "mariadb-dump"}[engine]
    found = shutil.which(program) or (shutil.which("mysqldump") if engine == "mariadb" else None)
    if found is None:
        return f"{program} not installed"
    environment = dict(os.environ)
    if engine == "sqlite":
        return [found, url, ".schema"], environment
    url, password = without_password(url)
    if engine == "postgresql":
        if password is not None:
            environment["PGPASSWORD"] = password
        return [found, "--schema-only", "--dbname", url], environment
    parts = urlsplit(url)
    if password is not None:
        environment["MYSQL_PWD"] = password
    command = [found, "--no-data", f"--host={parts.hostname}", f"--port={parts.port or 3306}"]
    if parts.username:
        command.append(f"--user={unquote(parts.username)}")
    return [*command, parts.path.lstrip("/")], environment


def run_child(command: list[str], environment: dict[str, str]) -> float:
    """Wall seconds of one child process; a failure stops the benchmark."""
    start = time.perf_counter()
    outcome = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment)
    seconds = time.perf_counter() - start
    if outcome.returncode != 0:
        raise RuntimeError(
            f"{command[0]} exited {outcome.returncode}: {outcome.stderr.decode(errors='replace')[-2000:]}"
        )
    return seconds


def read_catalog(url: str) -> int:
    """Connect and read every table's catalog, as ``schemac import`` does first; returns the table count."""
    from schemac.dialects.connections import connect, parse_url
    from schemac.importing.catalog import reader

    target = parse_url(url)
    database = connect(target, 30, read_only=True)
    try:
        return len(reader(target.dialect)(database, None).tables)
    finally:
        database.close()


def import_available() -> str:
    """Why ``schemac.import_spec`` cannot be measured in this build, or ``""``."""
    import schemac

    try:
        schemac.import_spec  # noqa: B018
    except AttributeError:
        return "schemac.import_spec is not available in this build"
    return ""


class ImportBench:
    def __init__(self, work: Path, tables: int, repeats: int, log: Callable[[str], None]) -> None:
        self.work, self.tables, self.repeats, self.log = work, tables, repeats, log
        self.rows: list[tuple[str, Row]] = []

    def add(self, engine: str, row: Row) -> None:
        self.rows.append((engine, row))
        ratio = f" ratio {row.ratio:.2f}" if row.ratio is not None else ""
        peer = f", {row.peer} {_cell(row.peer_value, row.unit)}" if row.peer else ""
        self.log(f"  {engine} {row.name}: {_cell(row.value, row.unit)}{peer}{ratio} {row.note}".rstrip())

    def engine(self, engine: str) -> None:
        self.log(f"{engine}: {self.tables} tables")
        try:
            with new_database(engine, self.work) as url:
                project = source_project(self.work, self.tables, engine)
                took = timed(lambda: populate(project, engine, url))
                self.log(f"  {engine} setup: made {self.tables} tables in {took:.1f} s")
                self.measure(engine, url)
        except Unreachable as exc:
            self.add(engine, Row(self.tables, "schemac import", None, peer=PEERS[engine], note=f"skipped: {exc}"))

    def measure(self, engine: str, url: str) -> None:
        assert read_catalog(url) == self.tables, "the reader found every table"
        peer = peer_command(engine, url)
        peer_samples: list[float] = []
        peer_note = peer if isinstance(peer, str) else ""
        problem = import_available()
        row = Row(self.tables, "schemac import", None, peer=PEERS[engine])
        row.note = "; ".join(n for n in (problem, peer_note) if n)
        # The peer and schemac take turns, so that both see the machine as it is at that moment.
        for attempt in range(self.repeats):
            if isinstance(peer, tuple):
                peer_samples.append(run_child(*peer))
            if not problem:
                target = self.work / f"imported_{engine}_{attempt}"
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir()
                (target / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
                command = [*executable("schemac"), "import", "--project", str(target), "--quiet"]
                row.samples.append(run_child(command, dict(os.environ, SCHEMAC_DB=url)))
                written = list((target / "specs").glob("*.yaml"))
                assert len(written) == 1, f"schemac import wrote one spec ({written})"
        peer_value = median(peer_samples) if peer_samples else None
        row.peer_value, row.peer_samples = peer_value, peer_samples
        row.value = median(row.samples) if row.samples else None
        self.add(engine, row)

        samples = [timed(lambda: read_catalog(url)) for _ in range(self.repeats)]
        reader = Row(self.tables, "catalog reader (in process)", median(samples), peer=PEERS[engine])
        reader.peer_value, reader.samples, reader.note = peer_value, samples, peer_note
        self.add(engine, reader)


def targets(rows: list[tuple[str, Row]]) -> list[Target]:
    found = []
    for engine, row in rows:
        if row.name != "schemac import" or engine == "sqlite":
            continue
        text = f"{engine}: schemac import of {row.size:,} tables <= {LIMIT:g} x {row.peer}"
        if row.ratio is None:
            found.append(Target(text, "not measured", ""))
        else:
            found.append(Target(text, "met" if row.ratio <= LIMIT else "not met", f"{row.ratio:.2f} x"))
    return found


def markdown(rows: list[tuple[str, Row]], found: list[Target], info: dict[str, Any]) -> str:
    lines = [
        *machine_lines(info),
        "",
        "| engine | tables | measure | schemac | peer | peer figure | schemac / peer | note |",
        "|---|---:|---|---:|---|---:|---:|---|",
    ]
    for engine, r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
        cells = [engine, f"{r.size:,}", r.name, _cell(r.value, r.unit), r.peer or "—", _cell(r.peer_value, r.unit)]
        lines.append("| " + " | ".join([*cells, ratio, r.note]) + " |")
    lines += ["", "| target | figure | outcome |", "|---|---:|---|"]
    lines += [f"| {t.text} | {t.figure or '—'} | {t.outcome} |" for t in found]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000, help="tables in the database imported")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: sqlite,postgresql,mariadb")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--workdir", type=Path, help="keep the generated projects here (default: a temp dir)")
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in str(args.engines).split(",") if e.strip()]
    if not set(args.engines) <= set(ENGINES) or args.tables < 10 or args.repeats < 1:
        parser.error(f"engines among {', '.join(ENGINES)}; at least 10 tables and 1 repeat")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    byte_compile_schemac()
    load_before = os.getloadavg()
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="schemac-import-bench-") as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        bench = ImportBench(work, args.tables, args.repeats, log)
        for engine in args.engines:
            bench.engine(engine)
    found = targets(bench.rows)
    info = machine(load_before)
    if args.json:
        rows = [{"engine": e} | asdict(r) | {"ratio": r.ratio} for e, r in bench.rows]
        print(json.dumps({"machine": info, "rows": rows, "targets": [asdict(t) for t in found]}, indent=2))
    else:
        print(markdown(bench.rows, found, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
