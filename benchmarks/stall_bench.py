"""Measure how long a writer stalls while ``schemac apply`` changes a large table, in the lock-safe and the
plain form, on PostgreSQL and MariaDB.

``python -m benchmarks.stall_bench [--rows 1000000] [--repeats 1] [--engines postgresql,mariadb]
[--kinds add_column,…] [--json]``. For each engine, kind of change and form, a new database gets version 1
of a small project (``orders``, ``--rows`` rows filled in one statement, and ``customers``, 1,000 rows)
with ``schemac apply --to 1``; then a writer on its own connection inserts a row and updates another in a
loop while ``schemac apply`` runs version 2, which makes one change. The form is the project's
``[<engine>] online`` setting: the lock-safe form is what the project renders by default, the plain form
what it renders with ``online = false``; both are built by schemac from the same specs. Reported per run:
the writer's worst stall (the longest gap between two completed writes, or between the start of the
migration or its end and the nearest write) and the migration's time (``execution_ms`` of ``apply``).
Each figure is the median of ``--repeats`` runs. Servers come from ``SCHEMAC_TEST_PG`` and
``SCHEMAC_TEST_MARIADB``; one that cannot be reached is skipped and the report says so.

The target: a worst stall under 1 s for every change the engine makes online (its lock-safe SQL differs
from the plain one).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .import_bench import Unreachable, new_database
from .run import Target, machine, machine_lines, mariadb_connection, median

ENGINES = ("postgresql", "mariadb")
FORMS = ("lock-safe", "plain")
STALL_LIMIT = 1.0
"""The target: the writer's worst stall, in seconds, for a change the engine makes online."""

BASE = """\
description: Customers and their orders.
tables:
  customers:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
  orders:
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      customer_id: {type: integer, nullable: true}
      total: {type: integer, nullable: true}
      code: {type: integer}
      status: {type: string(16), default: open}
    indexes:
      - columns: [code]
"""
CHANGES: dict[str, Callable[[str], str]] = {
    "add column": lambda spec: spec.replace(
        "      status:", "      note: {type: integer, nullable: true}\n      status:"
    ),
    "add index": lambda spec: spec.replace(
        "      - columns: [code]", "      - columns: [code]\n      - columns: [total]"
    ),
    "add foreign key": lambda spec: spec.replace(
        "customer_id: {type: integer, nullable: true}",
        "customer_id: {type: integer, nullable: true, references: customers.id}",
    ),
    "add check": lambda spec: spec + "    checks:\n      - name: total_positive\n        expression: total >= 0\n",
    "set not null": lambda spec: spec.replace(
        "total: {type: integer, nullable: true}", "total: {type: integer, default: 0}"
    ),
    "change default": lambda spec: spec.replace("default: open}", "default: new}"),
    "drop index": lambda spec: spec.replace("    indexes:\n      - columns: [code]\n", ""),
}
"""Each kind of change: version 2's spec made from version 1's."""
KEYS = {name.replace(" ", "_"): name for name in CHANGES}
CUSTOMERS = 1000
FILL = {
    "postgresql": (
        "INSERT INTO customers (id) SELECT i FROM generate_series(1, {customers}) AS i",
        "INSERT INTO orders (id, customer_id, total, code, status) "
        "SELECT i, 1 + i % {customers}, i % 1000, i % 9973, 'open' FROM generate_series(1, {rows}) AS i",
    ),
    "mariadb": (
        "INSERT INTO customers (id) SELECT seq FROM seq_1_to_{customers}",
        "INSERT INTO orders (id, customer_id, total, code, status) "
        "SELECT seq, 1 + seq % {customers}, seq % 1000, seq % 9973, 'open' FROM seq_1_to_{rows}",
    ),
}
"""Version 1's rows, each table in one statement (MariaDB's sequence engine, PostgreSQL's generate_series)."""


@dataclass
class Run:
    """One engine, kind of change and form: the writer's worst stall and the migration's time, per repeat."""

    engine: str
    kind: str
    form: str
    rows: int
    sql: str = ""
    stalls: list[float] = field(default_factory=list)
    migrations: list[float] = field(default_factory=list)
    writes: list[int] = field(default_factory=list)
    note: str = ""

    @property
    def stall(self) -> float | None:
        return median(self.stalls) if self.stalls else None

    @property
    def migration(self) -> float | None:
        return median(self.migrations) if self.migrations else None


def connect(engine: str, url: str) -> Any:
    """A plain autocommit driver connection, the writer's own."""
    if engine == "postgresql":
        import psycopg

        return psycopg.connect(url, autocommit=True)
    return mariadb_connection(url)


def execute(connection: Any, sql: str, params: Sequence[object] = ()) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or None)


class Writer(threading.Thread):
    """Inserts a row and updates another in a loop, each its own transaction, noting when each write completed."""

    def __init__(self, connection: Any, rows: int) -> None:
        super().__init__(daemon=True)
        self.connection, self.rows = connection, rows
        self.done: list[float] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        chosen = random.Random(7)
        next_id = self.rows + 1
        try:
            while not self.stop.is_set():
                execute(
                    self.connection,
                    "INSERT INTO orders (id, customer_id, total, code) VALUES (%s, %s, %s, %s)",
                    (next_id, 1 + next_id % CUSTOMERS, 1, next_id % 9973),
                )
                next_id += 1
                self.done.append(time.monotonic())
                execute(
                    self.connection,
                    "UPDATE orders SET total = total + 1 WHERE id = %s",
                    (chosen.randint(1, self.rows),),
                )
                self.done.append(time.monotonic())
        except BaseException as error:  # reported by the run, which then fails
            self.error = error

    def worst_stall(self, start: float, end: float) -> float:
        """The longest time without a completed write between ``start`` and ``end``."""
        moments = [start, *(t for t in self.done if start < t < end), end]
        return max(b - a for a, b in itertools.pairwise(moments))


def project(work: Path, engine: str, kind: str, form: str) -> tuple[Path, str]:
    """The project for one run, built; and version 2's SQL."""
    root = work / f"{engine}_{kind.replace(' ', '_')}_{form}"
    if root.exists():
        shutil.rmtree(root)
    (root / "specs").mkdir(parents=True)
    (root / "specs" / "0001_orders.yaml").write_text(BASE, encoding="utf-8")
    changed = CHANGES[kind](BASE).replace("description: Customers and their orders.", f"description: {kind}.")
    (root / "specs" / "0002_change.yaml").write_text(changed, encoding="utf-8")
    settings = f'dialect = "{engine}"\n' + (f"\n[{engine}]\nonline = false\n" if form == "plain" else "")
    (root / "schemac.toml").write_text(settings, encoding="utf-8")
    schemac(root, "build", "--quiet")
    text = (root / "migrations" / "0002_change.sql").read_text(encoding="utf-8")
    sql = "\n".join(line for line in text.splitlines() if line and not line.startswith("--"))
    return root, sql


def schemac(root: Path, *args: str) -> str:
    """``schemac ARGS`` in ``root``, which must exit 0; its standard output."""
    outcome = subprocess.run(
        [sys.executable, "-m", "schemac", *args], cwd=root, capture_output=True, text=True, timeout=3600
    )
    if outcome.returncode:
        raise RuntimeError(f"schemac {' '.join(args)}: {outcome.stderr.strip()}")
    return outcome.stdout


def measure_once(run: Run, root: Path, work: Path) -> None:
    with new_database(run.engine, work) as url:
        schemac(root, "apply", "--db", url, "--to", "1", "--quiet")
        filler = connect(run.engine, url)
        try:
            for statement in FILL[run.engine]:
                execute(filler, statement.format(rows=run.rows, customers=CUSTOMERS))
            if run.engine == "postgresql":
                execute(filler, "VACUUM ANALYZE orders")
        finally:
            filler.close()
        writer = Writer(connect(run.engine, url), run.rows)
        writer.start()
        time.sleep(0.2)  # the writer's loop under way
        start = time.monotonic()
        try:
            report = json.loads(schemac(root, "apply", "--db", url, "--format", "json"))
        finally:
            end = time.monotonic()
            writer.stop.set()
            writer.join()
            writer.connection.close()
        if writer.error is not None:
            raise RuntimeError(f"the writer failed: {writer.error}")
        (applied,) = report["applied"]
        run.stalls.append(writer.worst_stall(start, end))
        run.migrations.append(applied["execution_ms"] / 1000)
        run.writes.append(sum(start < t < end for t in writer.done))


def measure(engine: str, kind: str, form: str, rows: int, repeats: int, work: Path, log: Callable[[str], None]) -> Run:
    run = Run(engine, kind, form, rows)
    root, run.sql = project(work, engine, kind, form)
    try:
        for _ in range(repeats):
            measure_once(run, root, work)
    except Unreachable as exc:
        run.note = f"skipped: {exc}"
    log(f"{engine} {kind} ({form}): stall {_seconds(run.stall)}, migration {_seconds(run.migration)} {run.note}")
    return run


def targets(runs: list[Run]) -> list[Target]:
    """Per engine: every change it makes online (lock-safe SQL other than the plain) stalls the writer < 1 s."""
    found = []
    for engine in dict.fromkeys(r.engine for r in runs):
        by = {(r.kind, r.form): r for r in runs if r.engine == engine}
        online = [
            by[kind, "lock-safe"]
            for kind, form in by
            if form == "lock-safe" and (kind, "plain") in by and by[kind, "lock-safe"].sql != by[kind, "plain"].sql
        ]
        stalls = [r.stall for r in online if r.stall is not None]
        text = f"{engine}: worst writer stall < {STALL_LIMIT:.0f} s for each change made online ({len(online)} kinds)"
        if not stalls or len(stalls) < len(online):
            found.append(Target(text, "not measured", ""))
            continue
        worst = max(online, key=lambda r: r.stall or 0.0)
        figure = f"{worst.stall:.3f} s ({worst.kind})"
        found.append(Target(text, "met" if max(stalls) < STALL_LIMIT else "not met", figure))
    return found


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f} s"


def markdown(runs: list[Run], found: list[Target], info: dict[str, Any]) -> str:
    """The machine lines, then per engine and change: both forms' worst stall and migration time."""
    lines = [
        *machine_lines(info),
        "",
        "| engine | change | rows | lock-safe: worst stall | lock-safe: migration | plain: worst stall | "
        "plain: migration | online form | note |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    by = {(r.engine, r.kind, r.form): r for r in runs}
    for engine, kind in dict.fromkeys((r.engine, r.kind) for r in runs):
        safe, plain = by.get((engine, kind, "lock-safe")), by.get((engine, kind, "plain"))
        cells = [engine, kind, f"{(safe or plain).rows:,}"]  # type: ignore[union-attr]
        for run in (safe, plain):
            cells += [_seconds(run.stall), _seconds(run.migration)] if run else ["—", "—"]
        differs = "yes" if safe and plain and safe.sql != plain.sql else "no (same SQL)"
        notes = "; ".join(dict.fromkeys(r.note for r in (safe, plain) if r and r.note))
        lines.append("| " + " | ".join([*cells, differs, notes]) + " |")
    lines += ["", "| target | figure | outcome |", "|---|---:|---|"]
    lines += [f"| {t.text} | {t.figure or '—'} | {t.outcome} |" for t in found]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stall_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table changed")
    parser.add_argument("--repeats", type=int, default=1, help="runs per figure; the median is reported")
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines, comma-separated")
    parser.add_argument("--kinds", default=",".join(KEYS), help=f"changes, comma-separated: {', '.join(KEYS)}")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--workdir", type=Path, help="keep the projects here (default: a temp dir)")
    args = parser.parse_args(argv)
    for value, known, what in ((args.engines, ENGINES, "engine"), (args.kinds, tuple(KEYS), "change")):
        for name in value.split(","):
            if name not in known:
                parser.error(f"unknown {what} {name!r}: one of {', '.join(known)}")
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    work = args.workdir or Path(tempfile.mkdtemp(prefix="schemac-stall-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        runs = [
            measure(engine, KEYS[kind], form, args.rows, args.repeats, work, log)
            for engine in args.engines.split(",")
            for kind in args.kinds.split(",")
            for form in FORMS
        ]
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    found = targets(runs)
    info = machine(load_before)
    if args.json:
        rows = [{**asdict(r), "stall": r.stall, "migration": r.migration} for r in runs]
        print(json.dumps({"machine": info, "rows": rows, "targets": [asdict(t) for t in found]}))
    else:
        print(markdown(runs, found, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
