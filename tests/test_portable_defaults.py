"""Portable defaults (``default: {fn: now}``, ``default: {fn: uuid}``): one spec, the engine's own SQL for
each, rows inserted on every engine get values of the right shape; bad uses are located errors; verify
and import understand them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import schemac
from conftest import ENGINES, opened, run_cli

SPEC = """description: Events.
tables:
  events:
    description: Something that happened.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      token: {type: uuid, default: {fn: uuid}}
      label: {type: string(40), nullable: true, default: {fn: uuid}}
      happened_at: {type: timestamp, default: {fn: now}}
      happened_on: {type: date, default: {fn: now}}
"""

UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-(?P<version>[0-9a-f])[0-9a-f]{3}-(?P<variant>[0-9a-f])[0-9a-f]{3}-[0-9a-f]{12}"
)
"""A UUID as text, lower case; its version and variant digits."""
UUID_VERSION = {"sqlite": "4", "postgresql": "4", "mariadb": "1"}
"""MariaDB's UUID() is a version 1 (time-based) UUID; the others are random (version 4)."""


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_inserted_without_the_columns_get_a_uuid_and_the_current_time(
    engine: str, make_project: Callable[..., Path], database_factory: Callable[[str], str]
) -> None:
    project = make_project({"0001_events.yaml": SPEC}, f'dialects = ["{engine}"]\n')
    schemac.build(project)
    url = database_factory(engine)
    schemac.apply(project, url)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    with opened(url) as database:
        database.execute("INSERT INTO events (id) VALUES (1)")
        database.execute("INSERT INTO events (id) VALUES (2)")
        rows = database.query("SELECT token, label, happened_at, happened_on FROM events ORDER BY id")
    after = datetime.now(UTC) + timedelta(seconds=1)
    tokens = [str(row[0]).lower() for row in rows]
    assert len(set(tokens)) == 2 and tokens[0] != str(rows[0][1]).lower()  # a new one for every value
    for row in rows:
        for value in row[:2]:
            shape = UUID.fullmatch(str(value).lower())
            assert shape is not None, value
            assert shape["version"] == UUID_VERSION[engine] and shape["variant"] in "89ab", value
        happened = row[2] if isinstance(row[2], datetime) else datetime.fromisoformat(str(row[2]))
        happened = happened if happened.tzinfo else happened.replace(tzinfo=UTC)  # SQLite and MariaDB: UTC
        assert before <= happened <= after
        day = row[3] if isinstance(row[3], date) else date.fromisoformat(str(row[3]))
        assert day in {before.date(), after.date()}
    assert schemac.verify(project, url).differences == ()


@pytest.mark.parametrize(
    ("engine", "written"),
    [
        ("sqlite", '"happened_at" TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP'),
        ("sqlite", '"happened_on" TEXT NOT NULL DEFAULT CURRENT_DATE'),
        ("postgresql", '"token" uuid NOT NULL DEFAULT gen_random_uuid()'),
        ("postgresql", '"label" varchar(40) DEFAULT (gen_random_uuid())::text'),
        ("postgresql", '"happened_at" timestamptz NOT NULL DEFAULT now()'),
        ("mariadb", "`token` CHAR(36) NOT NULL DEFAULT (UUID())"),
        ("mariadb", "`happened_at` DATETIME(6) NOT NULL DEFAULT (UTC_TIMESTAMP(6))"),
        ("mariadb", "`happened_on` DATE NOT NULL DEFAULT (UTC_DATE())"),
    ],
)
def test_each_engine_writes_its_own_sql_for_a_portable_default(
    engine: str, written: str, make_project: Callable[..., Path]
) -> None:
    project = make_project({"0001_events.yaml": SPEC}, f'dialects = ["{engine}"]\n')
    schemac.build(project)
    assert written in (project / "migrations" / "0001_events.sql").read_text(encoding="utf-8")


def test_sqlite_writes_a_random_version_4_uuid_expression(make_project: Callable[..., Path]) -> None:
    project = make_project({"0001_events.yaml": SPEC})
    schemac.build(project)
    sql = (project / "migrations" / "0001_events.sql").read_text(encoding="utf-8")
    assert '"token" TEXT NOT NULL DEFAULT (lower(hex(randomblob(4))) || ' in sql
    assert "|| '-4' || " in sql and "substr('89ab', 1 + (random() & 3), 1)" in sql


HINT = "(hint: for another expression use {sql: ...}, which is written as it is for every engine)"


@pytest.mark.parametrize(
    ("column", "at", "message"),
    [
        (
            "{type: integer, default: {fn: now}}",
            "now",
            "SC308 default {fn: now} needs a timestamp or date column, not an integer column",
        ),
        (
            "{type: string(20), default: {fn: uuid}}",
            "uuid",
            "SC308 default {fn: uuid} needs a uuid, text or string(36+) column, not a string(20) column",
        ),
        (
            "{type: timestamp, default: {fn: today}}",
            "today",
            f"SC308 unknown default function 'today': the portable ones are now or uuid {HINT}",
        ),
        (
            "{type: text, enum: [a, b], default: {fn: uuid}}",
            "uuid",
            "SC308 default {fn: uuid} is not one of the enum values",
        ),
        ("{type: timestamp, default: {fn: [now]}}", "[now]", "SC202 default fn must be a string: now or uuid"),
    ],
)
def test_a_portable_default_that_does_not_fit_is_a_located_error(
    column: str, at: str, message: str, make_project: Callable[..., Path]
) -> None:
    line = f"      x: {column}"
    spec = "description: Bad.\ntables:\n  things:\n    description: Things.\n    columns:\n"
    spec += f"      id: {{type: integer, primary_key: true}}\n{line}\n"
    project = make_project({"0001_things.yaml": spec})
    done = run_cli("build", "--project", project)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"specs/0001_things.yaml:7:{line.rindex(at) + 1}: {message}"]
    assert not (project / "migrations").exists()


IMPORTED = {
    "sqlite": (  # SQLite keeps TEXT for uuid and date: what is imported is text, with the function it fits
        "      token: {type: text, default: {fn: uuid}}\n",
        "      happened_on: {type: text, default: {sql: CURRENT_DATE}}\n",
    ),
    "postgresql": (
        "      token: {type: uuid, default: {fn: uuid}}\n",
        "      happened_on: {type: date, default: {fn: now}}\n",
    ),
    "mariadb": (
        "      token: {type: uuid, default: {fn: uuid}}\n",
        "      happened_on: {type: date, default: {fn: now}}\n",
    ),
}


@pytest.mark.parametrize("engine", ENGINES)
def test_import_reads_the_engines_sql_back_as_the_portable_default(
    engine: str, make_project: Callable[..., Path], database_factory: Callable[[str], str], tmp_path: Path
) -> None:
    project = make_project({"0001_events.yaml": SPEC}, f'dialects = ["{engine}"]\n')
    schemac.build(project)
    url = database_factory(engine)
    schemac.apply(project, url)
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "schemac.toml").write_text(f'dialects = ["{engine}"]\n', encoding="utf-8")
    text = schemac.import_spec(imported, db=url).path.read_text(encoding="utf-8")
    for line in (
        *IMPORTED[engine],
        "      label: {type: string(40), nullable: true, default: {fn: uuid}}\n",
        "      happened_at: {type: timestamp, default: {fn: now}}\n",
    ):
        assert line in text, text
    schemac.build(imported)  # and the imported spec makes the same columns again
    fresh = database_factory(engine)
    schemac.apply(imported, fresh)
    assert schemac.verify(imported, fresh).differences == ()
    with opened(url) as original, opened(fresh) as copy:
        assert {c.name: c.default for c in copy.tables()["events"].columns} == {
            c.name: c.default for c in original.tables()["events"].columns
        }
