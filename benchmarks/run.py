"""Measure schemac beside its peers on synthetic projects and print seconds, ratios and targets.

``python -m benchmarks [--sizes 100,1000,10000] [--repeats 3] [--quick] [--json]``. Every figure
is the median of its repeats; peers run in the same process run on the same tables and files,
so the ratios hold even on a noisy machine. Nothing here is part of the test suite except a
smoke run of the smallest size.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import peers
from .generate import TABLES_PER_SPEC, add_spec, write_project

APPLY_LIMIT = 1000
"""SQLite's own cost of creating tables grows quadratically, so apply is measured up to this size."""


@dataclass
class Row:
    """One measurement: ours, and the peer measured beside it (when there is one)."""

    size: int
    name: str
    value: float | None
    unit: str = "s"
    peer: str = ""
    peer_value: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    peer_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.peer_value:
            return None
        return self.value / self.peer_value


@dataclass
class Target:
    text: str
    outcome: str  # met | not met | not measured
    figure: str


def executable(name: str) -> list[str]:
    """The console script installed beside this Python, or ``python -m`` as a fallback."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


def run(command: Sequence[str | Path], cwd: Path | None = None) -> tuple[float, str]:
    """Wall seconds and standard error of one child process; a failure stops the benchmark."""
    start = time.perf_counter()
    outcome = subprocess.run([str(c) for c in command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - start
    stderr = outcome.stderr.decode(errors="replace")
    if outcome.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {outcome.returncode}: {stderr[-2000:]}")
    return seconds, stderr


# The console script's own two lines, plus a report of the process's peak resident memory (VmHWM)
# on exit. VmHWM belongs to the new program only; ru_maxrss would also count the memory of this
# (large) benchmark process that the child was forked from.
_MEASURED_CLI = (
    "import atexit, re, sys\n"
    "def report():\n"
    "    status = open('/proc/self/status').read()\n"
    "    sys.stderr.write('schemac-bench-peak-kb ' + re.search(r'VmHWM:\\s+(\\d+)', status).group(1) + '\\n')\n"
    "atexit.register(report)\n"
    "from schemac.cli import main\n"
    "sys.argv[0] = 'schemac'\n"
    "main()\n"
)


def run_measured(arguments: Sequence[str | Path]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``schemac <arguments>`` in a fresh process."""
    seconds, stderr = run([sys.executable, "-c", _MEASURED_CLI, *arguments])
    peak = re.search(r"schemac-bench-peak-kb (\d+)", stderr)
    return seconds, int(peak.group(1)) / 1024 if peak else float("nan")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def mariadb_connection(url: str, *, with_database: bool = True, timeout: float | None = None) -> Any:
    """A plain autocommit PyMySQL connection to the server of a ``mariadb://`` URL (to its database, unless
    ``with_database`` is false: the server's administration), as the benchmarks' own drivers use."""
    from urllib.parse import unquote, urlsplit

    import pymysql  # type: ignore[import-untyped]

    parts = urlsplit(url)
    options: dict[str, Any] = {"connect_timeout": timeout} if timeout is not None else {}
    if with_database:
        options["database"] = parts.path.lstrip("/")
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        autocommit=True,
        **options,
    )


def median(samples: list[float]) -> float:
    return statistics.median(samples)


class Bench:
    def __init__(self, work: Path, repeats: int, log: Callable[[str], None]) -> None:
        self.work, self.repeats, self.log = work, repeats, log
        self.schemac = executable("schemac")
        self.rows: list[Row] = []
        self.built: dict[int, Path] = {}

    def fresh(self, source: Path, name: str) -> Path:
        target = self.work / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, symlinks=True)
        return target

    def add(self, row: Row) -> None:
        self.rows.append(row)
        ratio = f" ratio {row.ratio:.2f}" if row.ratio is not None else ""
        peer = f", {row.peer} {_cell(row.peer_value, row.unit)}" if row.peer else ""
        self.log(f"  {row.size:>6} {row.name}: {_cell(row.value, row.unit)}{peer}{ratio} {row.note}".rstrip())

    def size(self, tables: int) -> None:
        self.log(f"{tables} tables ({-(-tables // TABLES_PER_SPEC)} specs)")
        source = write_project(self.work / f"source_{tables}", tables)
        self.cold_build(tables, source)
        built = self.built[tables]
        self.check(tables, built)
        self.load(tables, built / "migrations")
        if tables <= APPLY_LIMIT:
            self.apply(tables, built / "migrations")
        else:
            note = f"skipped above {APPLY_LIMIT} tables: SQLite's own cost of creating tables is quadratic"
            self.add(Row(tables, "apply to a fresh SQLite file", None, note=note))

    def cold_build(self, tables: int, source: Path) -> None:
        """Cold builds, each followed by SQLAlchemy on the same tables, so both see the same machine load."""
        from schemac.api import _settings
        from schemac.project.compiler import compile_project

        model = list(compile_project(_settings(source)).plans[-1].schema.values())
        problem = peers.missing("sqlalchemy")
        row = Row(tables, "cold build", None, peer="SQLAlchemy build+compile", note=problem or "")
        memory: list[float] = []
        for attempt in range(self.repeats):
            project = self.fresh(source, f"built_{tables}_{attempt}")
            took, peak = run_measured(["build", "--project", project, "--quiet"])
            row.samples.append(took)
            memory.append(peak)
            if not problem:
                row.peer_samples.append(timed(lambda: peers.sqlalchemy_ddl(model)))
            if attempt:
                shutil.rmtree(self.work / f"built_{tables}_{attempt - 1}")
        self.built[tables] = project
        sql_files = sorted((project / "migrations").glob("*.sql"))
        assert len(sql_files) == -(-tables // TABLES_PER_SPEC), "the cold build wrote one file per spec"
        row.value = median(row.samples)
        row.peer_value = median(row.peer_samples) if row.peer_samples else None
        self.add(row)
        self.add(Row(tables, "peak RSS of a cold build", median(memory), unit="MB", samples=memory))

    def check(self, tables: int, project: Path) -> None:
        samples = [run([*self.schemac, "check", "--project", project, "--quiet"])[0] for _ in range(self.repeats)]
        self.add(Row(tables, "check", median(samples), samples=samples))

    def load(self, tables: int, directory: Path, name: str = "load_migrations (checksums verified)") -> None:
        from schemac import load_migrations

        files = sorted(directory.glob("*.sql"))
        assert len(load_migrations(directory)) == len(files)
        samples = [timed(lambda: load_migrations(directory)) for _ in range(self.repeats)]
        floor = [run(["sha256sum", *files])[0] for _ in range(self.repeats)]
        self.add(Row(tables, name, median(samples), peer="sha256sum", peer_value=median(floor), samples=samples))

    def apply(self, tables: int, directory: Path) -> None:
        files = sorted(directory.glob("*.sql"))

        def fresh_db(label: str, attempt: int) -> Path:
            path = self.work / f"{label}_{tables}_{attempt}.sqlite3"
            path.unlink(missing_ok=True)
            return path

        def measure(label: str, apply: Callable[[Path], object]) -> list[float]:
            samples = []
            for attempt in range(self.repeats):
                database = fresh_db(label, attempt)
                samples.append(timed(functools.partial(apply, database)))
                assert peers.table_count(database) == tables, f"{label} created every table"
            return samples

        floor = measure("sqlite3", lambda db: peers.sqlite_apply(files, db))
        ours_apply = schemac_apply()
        ours = measure("schemac", lambda db: ours_apply(directory.parent, db)) if ours_apply else []
        note = "" if ours_apply else "schemac.apply is not available in this build"
        self.add(
            Row(
                tables,
                "apply to a fresh SQLite file",
                median(ours) if ours else None,
                peer="raw sqlite3, one transaction per file",
                peer_value=median(floor),
                note=note,
                samples=ours,
                peer_samples=floor,
            )
        )
        row = Row(tables, "apply to a fresh SQLite file", median(ours) if ours else None, peer="yoyo-migrations")
        problem = peers.missing("yoyo")
        if problem:
            row.note = problem
        else:
            row.peer_samples = measure("yoyo", lambda db: peers.yoyo_apply(directory, db))
            row.peer_value = median(row.peer_samples)
        self.add(row)

    def incremental(self, tables: int) -> None:
        built = self.built[tables]
        version = -(-tables // TABLES_PER_SPEC) + 1
        samples = []
        for attempt in range(self.repeats):
            project = self.fresh(built, f"incremental_{tables}_{attempt}")
            add_spec(project, version)
            samples.append(run([*self.schemac, "build", "--project", project, "--quiet"])[0])
            assert any((project / "migrations").glob(f"{version:05d}_*.sql")), "the new spec was built"
            shutil.rmtree(project)
        self.add(Row(tables, "build after adding one spec (incremental)", median(samples), samples=samples))

    def many_files(self, count: int) -> None:
        """load_migrations over ``count`` files (one table per spec), beside sha256sum."""
        project = write_project(self.work / f"files_{count}", count, per_spec=1)
        run([*self.schemac, "build", "--project", project, "--quiet"])
        self.load(count, project / "migrations", f"load_migrations, {count} files")

    def startup(self) -> None:
        runs = max(10, self.repeats)

        def sample(command: list[str]) -> list[float]:
            return [run(command)[0] for _ in range(runs)]

        ours = sample([*self.schemac, "--help"])
        floor = sample([sys.executable, "-c", "pass"])
        self.add(Row(0, "schemac --help", median(ours), peer="python -c pass", peer_value=median(floor), samples=ours))
        typer_only = sample([sys.executable, "-c", "import typer"])
        self.add(Row(0, "schemac --help", median(ours), peer="python -c 'import typer'", peer_value=median(typer_only)))
        row = Row(0, "schemac --help", median(ours), peer="alembic --help", samples=ours)
        problem = peers.missing("alembic")
        if problem:
            row.note = problem
        else:
            row.peer_samples = sample([*executable("alembic"), "--help"])
            row.peer_value = median(row.peer_samples)
        self.add(row)


def schemac_apply() -> Callable[[Path, Path], object] | None:
    """schemac's applier (``schemac.apply(project, db)``), or ``None`` in a build that lacks it."""
    import schemac

    try:
        apply = schemac.apply
    except AttributeError:
        return None
    return lambda project, database: apply(project, str(database))


def _find(rows: list[Row], size: int, name: str, peer: str = "") -> Row | None:
    return next((r for r in rows if r.size == size and r.name == name and r.peer.startswith(peer)), None)


def targets(rows: list[Row]) -> list[Target]:
    """The targets of issue 7, each met, not met, or not measured in this run."""
    found: list[Target] = []

    def value(size: int, name: str, peer: str = "", *, ratio: bool = False) -> float | None:
        row = _find(rows, size, name, peer)
        if row is None:
            return None
        return row.ratio if ratio else row.value

    def judge(text: str, figure: float | None, limit: float, shown: str) -> None:
        if figure is None:
            found.append(Target(text, "not measured", ""))
        else:
            found.append(Target(text, "met" if figure <= limit else "not met", shown.format(figure)))

    judge("cold build of 10,000 tables <= 10 s", value(10000, "cold build"), 10, "{:.2f} s")
    judge(
        "cold build of 10,000 tables <= 0.5 x SQLAlchemy build+compile",
        value(10000, "cold build", ratio=True),
        0.5,
        "{:.2f} x",
    )
    for name in ("cold build", "check"):
        big, small = value(10000, name), value(1000, name)
        judge(f"{name}: 10,000 / 1,000 tables <= 11", big / small if big and small else None, 11, "{:.1f}")
    judge(
        "incremental build (one new spec on 1,000 specs) <= 0.5 s",
        value(10000, "build after adding one spec (incremental)"),
        0.5,
        "{:.3f} s",
    )
    judge("check of 10,000 tables <= 2 s", value(10000, "check"), 2, "{:.2f} s")
    judge("load_migrations checksums, 10,000 files <= 1 s", value(10000, "load_migrations, 10000 files"), 1, "{:.3f} s")
    for peer, limit in (("python", 6.0), ("alembic", 0.25)):
        judge(f"schemac --help <= {limit} x {peer}", value(0, "schemac --help", peer, ratio=True), limit, "{:.2f} x")
    for peer, limit, text in (("raw", 1.5, "<= 1.5 x raw sqlite3"), ("yoyo", 0.25, ">= 4 x faster than yoyo")):
        figure = value(1000, "apply to a fresh SQLite file", peer, ratio=True)
        judge(f"apply of 1,000 tables {text}", figure, limit, "{:.2f} x")
    judge("peak RSS of a cold 10,000-table build <= 500 MB", value(10000, "peak RSS of a cold build"), 500, "{:.0f} MB")
    return found


def machine(load_before: tuple[float, ...]) -> dict[str, Any]:
    """Where the figures were measured; the load averages tell how busy the (shared) machine was."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} MB" if unit == "MB" else f"{value:.3f} s"


def machine_lines(info: dict[str, Any]) -> list[str]:
    """The machine a report's figures come from, and its load before and after the run."""
    return [
        f"{info['date']} · {info['nproc']} cores · {info['cpu']} · Python {info['python']} · SQLite {info['sqlite']}",
        f"load average (1, 5, 15 min) before {info['load_average_before']}, after {info['load_average_after']}",
    ]


def markdown(rows: list[Row], found: list[Target], info: dict[str, Any]) -> str:
    lines = [
        *machine_lines(info),
        "",
        "| tables | measure | schemac | peer | peer figure | schemac / peer | note |",
        "|---:|---|---:|---|---:|---:|---|",
    ]
    for r in rows:
        size = f"{r.size:,}" if r.size else "—"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
        cells = [size, r.name, _cell(r.value, r.unit), r.peer or "—", _cell(r.peer_value, r.unit), ratio, r.note]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| target | figure | outcome |", "|---|---:|---|"]
    lines += [f"| {t.text} | {t.figure or '—'} | {t.outcome} |" for t in found]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="table counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--quick", action="store_true", help="sizes 100,1000 with one run each")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--workdir", type=Path, help="keep the generated projects here (default: a temp dir)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = "100,1000", 1
    args.sizes = sorted({int(s) for s in str(args.sizes).split(",") if s.strip()})
    if not args.sizes or min(args.sizes) < TABLES_PER_SPEC or args.repeats < 1:
        parser.error(f"sizes must be at least {TABLES_PER_SPEC} tables and repeats at least 1")
    return args


def byte_compile_schemac() -> None:
    """Write schemac's bytecode, as installing the package does, so that no measured process pays for
    compiling its sources (an editable install with ``PYTHONDONTWRITEBYTECODE`` set would, every time)."""
    import compileall

    import schemac

    compileall.compile_dir(Path(schemac.__file__).parent, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    byte_compile_schemac()
    load_before = os.getloadavg()
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="schemac-bench-") as scratch:
        work = args.workdir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        bench = Bench(work, args.repeats, log)
        bench.startup()
        for size in args.sizes:
            bench.size(size)
        bench.incremental(max(args.sizes))
        if max(args.sizes) >= 10000:
            bench.many_files(10000)
    found = targets(bench.rows)
    info = machine(load_before)
    if args.json:
        rows = [asdict(r) | {"ratio": r.ratio} for r in bench.rows]
        print(json.dumps({"machine": info, "rows": rows, "targets": [asdict(t) for t in found]}, indent=2))
    else:
        print(markdown(bench.rows, found, info))
    return 0
