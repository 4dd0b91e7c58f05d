"""Random schema evolution.

The first test: random follow-up specs (renames, drops, adds, type and audit changes, index removal, table
renames) give, on SQLite in-process, the schema and fingerprint of one fresh spec of the final shape.

The differential tests (one per engine, on real SQLite, PostgreSQL and MariaDB databases): random
histories of versions (see ``evolution_model``), each applied with ``schemac.apply`` after new rows in
every table. After each version the evolved database must equal a fresh build of the same shape (the
catalog read in full: columns, types, nullability, defaults, keys, checks by name and body, indexes,
foreign keys), ``verify`` must be clean, and every row must be what the model says (only the version's
own change alters one). On SQLite each history is also replayed through the first user's runner
(``first_user.Runner``: one transaction for all pending files, foreign keys on, double-quoted strings off).
CI runs a few histories per engine; ``SCHEMAC_HYPOTHESIS_PROFILE=thorough`` runs thousands and
``SCHEMAC_EVOLUTION_SEQUENCES=N`` any number (see docs/development.md).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings

import schemac
from conftest import opened, set_dialects
from evolution_model import CATALOGS, History, Row, State, differences, histories, normalise, parameter
from first_user import Runner
from test_evolution import apply_file, schema_of

TYPES = ["integer", "bigint", "text", "string(10)", "string(20)", "real", "boolean"]
DEFAULTS: dict[str, Any] = {
    "integer": 1,
    "bigint": 2,
    "text": "x",
    "string(10)": "y",
    "string(20)": "z",
    "real": 0.5,
    "boolean": True,
}
Spec = dict[str, Any]


def random_column(rng: random.Random, name: str, parents: list[str]) -> dict[str, Any]:
    column: dict[str, Any] = {"type": rng.choice(TYPES)}
    if rng.random() < 0.4:
        column["nullable"] = True
    if rng.random() < 0.3:
        column["default"] = DEFAULTS[column["type"]]
    if column["type"] == "text" and "default" not in column and rng.random() < 0.3:
        column["enum"] = ["x", "q"]
    if column["type"] == "integer" and rng.random() < 0.2:
        column["check"] = f"{name} > -100"
    elif column["type"] == "integer" and parents and rng.random() < 0.3:
        column.update(references=f"{rng.choice(parents)}.id", nullable=True)
        column.pop("default", None)
    return column


def random_table(rng: random.Random, parents: list[str]) -> dict[str, Any]:
    columns: dict[str, Any] = {"id": {"type": "integer", "primary_key": True}}
    for name in rng.sample(["c1", "c2", "c3", "c4", "c5"], rng.randint(1, 4)):
        columns[name] = random_column(rng, name, parents)
    table: dict[str, Any] = {"audit": rng.choice(["none", "full", "none"]), "columns": columns}
    names = list(columns)[1:]
    if rng.random() < 0.5:
        table["indexes"] = [{"columns": rng.sample(names, rng.randint(1, len(names)))}]
    integers = [n for n in names if columns[n]["type"] == "integer"]
    if integers and rng.random() < 0.3:
        table["checks"] = [{"name": "limit", "expression": f"{integers[0]} < 1000000"}]
    return table


def _forget_column(table: dict[str, Any], name: str) -> None:
    """Remove the indexes and checks that use column ``name``."""
    for key, uses in (("indexes", lambda i: name in i["columns"]), ("checks", lambda c: name in c["expression"])):
        kept = [item for item in table.get(key, []) if not uses(item)]
        table.pop(key, None)
        if kept:
            table[key] = kept


def _rename_column(rng: random.Random, table: dict[str, Any], old: str) -> None:
    columns = table["columns"]
    body = columns.pop(old)
    new = old + "_r"
    body["renamed_from"] = old
    if "check" in body:
        body["check"] = body["check"].replace(old, new)
    items = list(columns.items())
    items.insert(rng.randint(1, len(items)), (new, body))
    table["columns"] = dict(items)
    for index in table.get("indexes", []):
        index["columns"] = [new if c == old else c for c in index["columns"]]
    for check in table.get("checks", []):
        check["expression"] = check["expression"].replace(old, new)


def follow_up(rng: random.Random, spec: Spec) -> Spec:
    """One random change to each table of ``spec``."""
    result = copy.deepcopy(spec)
    tables = result["tables"]
    for name in list(tables):
        table = tables[name]
        columns = table["columns"]
        names = list(columns)[1:]
        choice = rng.random()
        if choice < 0.15 and names:
            _rename_column(rng, table, rng.choice(names))
        elif choice < 0.3 and names:
            dropped = rng.choice(names)
            del columns[dropped]
            _forget_column(table, dropped)
        elif choice < 0.45:
            columns[f"n{rng.randint(1, 9)}"] = {"type": rng.choice(TYPES), "nullable": True}
        elif choice < 0.6 and names:
            changed = rng.choice(names)
            if "references" not in columns[changed]:  # a new type; its indexes and table checks stay
                columns[changed] = {"type": rng.choice(TYPES), "nullable": columns[changed].get("nullable", False)}
        elif choice < 0.7:
            table["audit"] = rng.choice(["none", "full"])
        elif choice < 0.8:
            table.pop("indexes", None)
        elif choice < 0.9 and name != "t1":
            tables[f"{name}_x"] = {**tables.pop(name), "renamed_from": name}
    return {"description": "A random follow-up.", "allow_destructive": True, "tables": tables}


def final_shape(spec: Spec) -> Spec:
    fresh = copy.deepcopy(spec)
    del fresh["allow_destructive"]
    for table in fresh["tables"].values():
        table.pop("renamed_from", None)
        for column in table["columns"].values():
            column.pop("renamed_from", None)
    return fresh


def _build(root: Path, specs: dict[str, Spec]) -> sqlite3.Connection:
    (root / "specs").mkdir(parents=True)
    for name, spec in specs.items():
        (root / "specs" / name).write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    schemac.build(root)
    con = sqlite3.connect(":memory:", isolation_level=None)
    for migration in schemac.load_migrations(root / "migrations"):
        apply_file(con, migration.sql)
    return con


def _fingerprint(root: Path) -> str:
    return str(json.loads((root / "migrations" / "manifest.json").read_text())["files"][-1]["schema_fingerprint"])


@pytest.mark.parametrize("seed", range(25))
def test_random_follow_up_evolves_to_the_fresh_schema(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    first: Spec = {"description": "Random tables.", "tables": {}}
    for name in ("t1", "t2", "t3"):
        first["tables"][name] = random_table(rng, ["t1"] if name != "t1" else [])
    second = follow_up(rng, first)
    renamed = {t["renamed_from"]: n for n, t in second["tables"].items() if "renamed_from" in t}
    for table in second["tables"].values():
        for column in table["columns"].values():
            if "references" in column:
                target, key = column["references"].split(".")
                column["references"] = f"{renamed.get(target, target)}.{key}"
    evolved = _build(tmp_path / "evolved", {"0001_first.yaml": first, "0002_second.yaml": second})
    fresh = _build(tmp_path / "fresh", {"0001_fresh.yaml": final_shape(second)})
    assert schema_of(evolved) == schema_of(fresh)
    assert _fingerprint(tmp_path / "evolved") == _fingerprint(tmp_path / "fresh")


# ---------------------------------------------------------------------------------------------- differential

CI_SEQUENCES = {"sqlite": 60, "postgresql": 40, "mariadb": 20}
"""Histories per engine in the default run: some 50 s on two cores for the three engines together."""
THOROUGH_SEQUENCES = 2_000


def sequences(engine: str) -> int:
    """How many histories to run on ``engine``: SCHEMAC_EVOLUTION_SEQUENCES, else by hypothesis profile."""
    if os.environ.get("SCHEMAC_EVOLUTION_SEQUENCES"):
        return int(os.environ["SCHEMAC_EVOLUTION_SEQUENCES"])
    if os.environ.get("SCHEMAC_HYPOTHESIS_PROFILE") == "thorough":
        return THOROUGH_SEQUENCES
    return CI_SEQUENCES[engine]


@dataclass
class Place:
    """Where one engine's histories run: two databases of the test's own (evolved, fresh), emptied before
    each use, and a working directory per history."""

    engine: str
    evolved: str
    fresh: str
    root: Path
    runs: int = 0

    @property
    def workdir(self) -> Path:
        return self.root / f"history{self.runs}"

    def next_workdir(self) -> Path:
        """A new directory for the next history (removed after it, SQLite databases included)."""
        self.runs += 1
        self.workdir.mkdir(parents=True)
        return self.workdir

    def empty(self, url: str) -> str:
        """``url``'s database with no tables (on SQLite a new file in the history's directory)."""
        if self.engine == "sqlite":
            return str(self.workdir / f"{Path(url).stem}_{uuid.uuid4().hex[:6]}.db")
        with opened(url) as database:
            if self.engine == "postgresql":
                database.execute("DROP SCHEMA public CASCADE")
                database.execute("CREATE SCHEMA public")
            else:
                tables = [
                    r[0]
                    for r in database.query(
                        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                    )
                ]
                if tables:
                    database.execute("SET FOREIGN_KEY_CHECKS = 0")
                    database.execute("DROP TABLE " + ", ".join(f"`{t}`" for t in tables))
                    database.execute("SET FOREIGN_KEY_CHECKS = 1")
        return url


@pytest.fixture
def stats(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Counts of what a test ran; appended as JSON to the file SCHEMAC_EVOLUTION_STATS names, if set."""
    counts: Counter[str] = Counter()
    started = time.monotonic()
    yield counts
    target = os.environ.get("SCHEMAC_EVOLUTION_STATS")
    if target:
        line = {"test": request.node.name, "seconds": round(time.monotonic() - started, 1), **counts}
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")


@pytest.fixture
def places(tmp_path: Path, database_factory: Callable[[str], str]) -> Callable[[str], Place]:
    """``place(engine)``: the same two databases for every history of a test (hypothesis runs the test
    body once per history with the same fixtures), made on first use and dropped after the test."""
    made: dict[str, Place] = {}

    def place(engine: str) -> Place:
        if engine not in made:
            made[engine] = Place(engine, database_factory(engine), database_factory(engine), tmp_path)
        return made[engine]

    return place


def _write_project(root: Path, engine: str, specs: dict[str, dict[str, Any]]) -> Path:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    set_dialects(root, [engine])
    for name, spec in specs.items():
        (root / "specs" / name).write_text(json.dumps(spec, indent=1), encoding="utf-8")  # JSON is YAML
    return root


def _insert(engine: str, execute: Callable[..., Any], state: State, table: str, row: Row) -> None:
    types = state.tables[table].all_columns()
    names = list(row)
    marks = ", ".join("%s" if engine != "sqlite" else "?" for _ in names)
    execute(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",
        tuple(parameter(engine, types[n], row[n]) for n in names),
    )


def _rows_differ(query: Callable[..., list[tuple[Any, ...]]], state: State) -> tuple[list[str], int]:
    """How the rows read through ``query`` differ from the model's, and how many rows were compared."""
    found: list[str] = []
    compared = 0
    for name, table in state.tables.items():
        types = table.all_columns()
        names = list(types)
        live = [
            {n: normalise(types[n], v) for n, v in zip(names, row, strict=True)}
            for row in query(f"SELECT {', '.join(names)} FROM {name}")
        ]
        expected = state.rows[name]
        key = table.key
        live.sort(key=lambda r: r[key])
        want = sorted(expected, key=lambda r: r[key])
        compared += len(live)
        if live != want:
            found.append(f"rows of {name}: database {live!r}, model {want!r}")
    return found, compared


def _fresh_catalog(place: Place, workdir: Path, number: int, state: State) -> tuple[dict[str, Any], str]:
    """The catalog of a fresh build of ``state``'s shape, and that build's schema fingerprint."""
    project = _write_project(workdir / f"fresh{number}", place.engine, {"0001_fresh.yaml": state.fresh_spec()})
    schemac.build(project)
    url = place.empty(place.fresh)
    schemac.apply(project, url)
    with opened(url) as database:
        catalog = CATALOGS[place.engine](database.query)
    return catalog, _fingerprint(project)


def run_history(place: Place, history: History, stats: Counter[str]) -> None:
    """Apply ``history`` version by version with rows present, checking each version on ``place.engine``."""
    engine = place.engine
    workdir = place.next_workdir()
    project = _write_project(workdir / "evolved", engine, {})
    url = place.empty(place.evolved)
    runner = Runner(workdir / "first_user.db") if engine == "sqlite" else None
    stats["histories"] += 1
    fresh: dict[str, Any] = {}
    try:
        with opened(url) as database:
            if engine == "postgresql":
                database.execute("SET TIME ZONE 'UTC'")  # timestamps read back as they were written
            for number, version in enumerate(history.versions, 1):
                note(f"version {number}: {'; '.join(version.changes)}")
                before = history.versions[number - 2].state if number > 1 else State()
                for table, row in version.inserts:
                    _insert(engine, database.execute, before, table, row)
                    if runner is not None:
                        _insert(engine, runner.execute, before, table, row)
                stats["rows inserted"] += len(version.inserts)
                (project / "specs" / f"{number:04d}_v.yaml").write_text(json.dumps(version.spec, indent=1))
                schemac.build(project)
                assert [m.version for m in schemac.apply(project, url, to=number).applied] == [number]
                stats["versions"] += 1
                fresh = _check_version(place, history, number, project, url, database.query, workdir, stats)
                if runner is not None:
                    _replay_first_user(runner, project, number, version.state, fresh, stats)
        if runner is not None and len(history.versions) > 2:
            _replay_at_once(history, project, workdir, fresh, stats)
    finally:
        if runner is not None:
            runner.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _check_version(
    place: Place,
    history: History,
    number: int,
    project: Path,
    url: str,
    query: Callable[..., list[tuple[Any, ...]]],
    workdir: Path,
    stats: Counter[str],
) -> dict[str, Any]:
    """After version ``number``: rows as the model says, the catalog of a fresh build (returned), a clean verify."""
    state = history.versions[number - 1].state
    problems, compared = _rows_differ(query, state)
    stats["rows compared"] += compared
    fresh, fingerprint = _fresh_catalog(place, workdir, number, state)
    problems += differences(CATALOGS[place.engine](query), fresh)
    problems += [f"verify: {d}" for d in schemac.verify(project, url).differences]
    if fingerprint != _fingerprint(project):
        problems.append("the manifest's schema fingerprint differs from the fresh build's")
    assert not problems, f"after version {number} on {place.engine}:\n" + "\n".join(problems)
    return fresh


def _replay_first_user(
    runner: Runner, project: Path, number: int, state: State, fresh: dict[str, Any], stats: Counter[str]
) -> None:
    """Version ``number`` through the first user's runner, compared with the model and the fresh build."""
    assert runner.apply(project / "migrations") == [number]
    problems, compared = _rows_differ(runner.query, state)
    stats["rows compared (first user's runner)"] += compared
    problems += differences(CATALOGS["sqlite"](runner.query), fresh)
    assert not problems, f"after version {number} through the first user's runner:\n" + "\n".join(problems)
    stats["versions (first user's runner)"] += 1


def _replay_at_once(history: History, project: Path, workdir: Path, fresh: dict[str, Any], stats: Counter[str]) -> None:
    """Version 1 through the first user's runner, the rows inserted before version 2, then every later
    version pending at once: one transaction, as a deployment that skipped versions runs them."""
    first = workdir / "first_only"
    first.mkdir()
    shutil.copy(next((project / "migrations").glob("0001_*.sql")), first)
    runner = Runner(workdir / "at_once.db")
    try:
        assert runner.apply(first) == [1]
        before = history.versions[0].state
        for table, row in history.versions[1].inserts:
            _insert("sqlite", runner.execute, before, table, row)
        applied = runner.apply(project / "migrations")
        assert applied == list(range(2, len(history.versions) + 1))
        state = history.versions[-1].first_rows(history.versions[1].batch)
        problems, compared = _rows_differ(runner.query, state)
        problems += differences(CATALOGS["sqlite"](runner.query), fresh)
        assert not problems, "after every version at once through the first user's runner:\n" + "\n".join(problems)
        stats["rows compared (first user's runner, at once)"] += compared
        stats["histories (first user's runner, at once)"] += 1
    finally:
        runner.close()


def differential(engine: str) -> settings:
    """Hypothesis settings for ``engine``'s test: its number of histories; the databases are emptied per history."""
    return settings(
        max_examples=sequences(engine),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


@differential("sqlite")
@given(history=histories("sqlite"))
def test_random_histories_on_sqlite(history: History, places: Callable[[str], Place], stats: Counter[str]) -> None:
    run_history(places("sqlite"), history, stats)


@differential("postgresql")
@given(history=histories("postgresql"))
def test_random_histories_on_postgresql(history: History, places: Callable[[str], Place], stats: Counter[str]) -> None:
    run_history(places("postgresql"), history, stats)


@differential("mariadb")
@given(history=histories("mariadb"))
def test_random_histories_on_mariadb(history: History, places: Callable[[str], Place], stats: Counter[str]) -> None:
    run_history(places("mariadb"), history, stats)
