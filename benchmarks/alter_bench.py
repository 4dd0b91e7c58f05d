"""Measure adding a nullable column to a SQLite table with ``ALTER TABLE … ADD COLUMN`` beside the rebuild
that schemac wrote for it before (new table, copy every row, drop, rename).

``python -m benchmarks.alter_bench [--rows 10000,1000000] [--repeats 3] [--json]``. The project is one
audited table (``orders``: a key, two columns, an index) and a follow-up spec adding a nullable ``note``
before the audit columns. Version 2 is rendered twice from the same plan: with SQLite's dialect as it
is, and with the dialect as it was before (the kinds now made in place taken out of ``in_place``, so the
change is a rebuild). Each figure is the median of its repeats of applying version 2, as ``schemac
apply`` runs a SQLite migration (foreign keys off, ``BEGIN IMMEDIATE``, the file, ``PRAGMA
foreign_key_check``, ``COMMIT``), to a copy of a database file holding version 1 and ``--rows`` rows,
with every file synced to disk (``os.sync``) before the clock starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from schemac import render
from schemac.dialects import SQLITE
from schemac.project.compiler import compile_project
from schemac.project.settings import load_settings

from .run import Row, Target, machine, machine_lines, median, timed

EARLIER_SQLITE = dataclasses.replace(
    SQLITE, in_place=SQLITE.in_place - {"insert_column", "add_checked_column", "add_referencing_column"}
)
"""SQLite's dialect before columns were added to audited tables with ALTER TABLE."""

BASE = """\
description: Orders.
tables:
  orders:
    columns:
      id: {type: integer, primary_key: true}
      customer: {type: text}
      total: {type: integer}
    indexes:
      - columns: [customer]
"""
NOTE = BASE.replace("description: Orders.", "description: Orders get a note.").replace(
    "      total: {type: integer}\n", "      total: {type: integer}\n      note: {type: text, nullable: true}\n"
)
FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
INSERT INTO orders (id, customer, total, created_at, created_by, updated_at, updated_by)
SELECT i, 'customer ' || (i % 997), i * 7, '2026-01-01T00:00:00Z', 'bench', '2026-01-01T00:00:00Z', 'bench' FROM n;
"""


def versions(work: Path) -> tuple[str, str, str]:
    """Version 1's SQL, and version 2's as SQLite's dialect renders it now and as it did before."""
    project = work / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_orders.yaml").write_text(BASE, encoding="utf-8")
    (project / "specs" / "0002_note.yaml").write_text(NOTE, encoding="utf-8")
    settings = load_settings(project)
    plans = compile_project(settings).plans
    env = render.environment("sqlite", settings.templates_dir, settings.root)
    first, _ = render.render_version(plans[0], SQLITE, env)
    alter, _ = render.render_version(plans[1], SQLITE, env)
    rebuild, _ = render.render_version(plans[1], EARLIER_SQLITE, env)
    if "ADD COLUMN" not in alter or "_schemac_new_orders" not in rebuild:
        raise RuntimeError("version 2 did not render as an ALTER TABLE and as a rebuild")
    return first, alter, rebuild


def apply_once(path: Path, sql: str) -> None:
    """One migration as ``schemac apply`` runs it on SQLite."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA foreign_keys = OFF")
        con.executescript("BEGIN IMMEDIATE;\n" + sql)  # in the script: executescript commits a pending one first
        if con.execute("PRAGMA foreign_key_check").fetchall():
            raise RuntimeError("foreign key violations")
        con.execute("COMMIT")
    finally:
        con.close()


def measure(work: Path, rows: int, repeats: int, log: Callable[[str], None]) -> Row:
    first, alter, rebuild = versions(work / f"project_{rows}")
    seeded = work / f"seeded_{rows}.db"
    with sqlite3.connect(seeded, isolation_level=None) as con:
        con.executescript(first)
        con.executescript("BEGIN;" + FILL.format(rows=rows) + "COMMIT;")
    con.close()
    samples: dict[str, list[float]] = {"alter": [], "rebuild": []}
    for attempt in range(repeats):
        for name, sql in (("alter", alter), ("rebuild", rebuild)):
            copy = work / f"{name}_{rows}.db"
            shutil.copy(seeded, copy)
            os.sync()  # the copy and the previous run's writes on disk: COMMIT's fsync then writes only the change
            samples[name].append(timed(lambda sql=sql, copy=copy: apply_once(copy, sql)))
            with sqlite3.connect(copy) as check:
                counted = check.execute("SELECT count(*), count(note) FROM orders").fetchone()
            check.close()
            if counted != (rows, 0):
                raise RuntimeError(f"{name}: orders holds {counted}, expected ({rows}, 0)")
            copy.unlink()
        log(f"{rows:,} rows, run {attempt + 1}: {samples['alter'][-1]:.4f} s, {samples['rebuild'][-1]:.4f} s")
    seeded.unlink()
    return Row(
        rows,
        "add a nullable column: ALTER TABLE … ADD COLUMN",
        median(samples["alter"]),
        peer="the earlier rebuild (copy every row)",
        peer_value=median(samples["rebuild"]),
        samples=samples["alter"],
        peer_samples=samples["rebuild"],
    )


def targets(rows: list[Row]) -> list[Target]:
    """The ALTER path's time should not grow with the table: the largest table within 10 x the smallest."""
    if len(rows) < 2 or rows[0].value is None or rows[-1].value is None:
        return [Target("ALTER TABLE … ADD COLUMN time independent of the row count", "not measured", "")]
    growth = rows[-1].value / rows[0].value
    return [
        Target(
            f"ALTER TABLE … ADD COLUMN on {rows[-1].size:,} rows <= 10 x on {rows[0].size:,} rows",
            "met" if growth <= 10 else "not met",
            f"{growth:.2f} x",
        )
    ]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.1f} ms"


def markdown(rows: list[Row], found: list[Target], info: dict[str, Any]) -> str:
    """The machine line, one table row per row count (milliseconds: the ALTER path takes a few), the targets."""
    lines = [
        *machine_lines(info),
        "",
        "| rows | ALTER TABLE … ADD COLUMN | rebuild (the earlier path) | rebuild / ALTER | runs: ALTER; rebuild |",
        "|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        ratio = f"{1 / r.ratio:.1f}" if r.ratio else "—"
        runs = ", ".join(map(_ms, r.samples)) + "; " + ", ".join(map(_ms, r.peer_samples))
        lines.append(f"| {r.size:,} | {_ms(r.value)} | {_ms(r.peer_value)} | {ratio} | {runs} |")
    lines += ["", "| target | figure | outcome |", "|---|---:|---|"]
    lines += [f"| {t.text} | {t.figure or '—'} | {t.outcome} |" for t in found]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.alter_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,1000000", help="row counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--workdir", type=Path, help="keep the databases here (default: a temp dir)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    work = args.workdir or Path(tempfile.mkdtemp(prefix="schemac-alter-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = [measure(work, int(n), args.repeats, log) for n in args.rows.split(",")]
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    found = targets(rows)
    info = machine(load_before)
    if args.json:
        print(json.dumps({"machine": info, "rows": [asdict(r) for r in rows], "targets": [asdict(t) for t in found]}))
    else:
        print(markdown(rows, found, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
