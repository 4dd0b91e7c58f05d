"""``schemac baseline``: a database another runner migrated with the adopted hand-written files (tracking
them in its own ``_migrations`` table) comes under ``apply``, on real engines.

The other runner is emulated: each hand-written file runs straight into the database through the engine's
driver (``executescript`` on SQLite), and a row for it goes into ``_migrations``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

import schemac
from conftest import ENGINES, findings, opened, run_cli
from schemac.dialects.connections import parse_url

EMAIL = {"sqlite": "TEXT", "postgresql": "text", "mariadb": "VARCHAR(255)"}
"""The type of an indexed ``text`` column on each engine, as the hand-written file writes it."""


def hand_written(engine: str) -> dict[str, str]:
    """The first user's files: a table, a data backfill, another table and an index."""
    return {
        "001_initial.sql": "CREATE TABLE accounts (id INTEGER NOT NULL PRIMARY KEY, "
        f"email {EMAIL[engine]} NOT NULL);\n",
        "013_backfill.sql": "INSERT INTO accounts (id, email) VALUES (1, 'a@example.com'), (2, 'b@example.com');\n",
        "20251013_more.sql": "CREATE TABLE notes (id INTEGER NOT NULL PRIMARY KEY, body TEXT);\n"
        "CREATE INDEX idx_accounts_email ON accounts (email);\n",
    }


FILES = ("001_initial.sql", "013_backfill.sql", "20251013_more.sql")
ADOPTED = (1, 13, 20251013)
BASELINE = """description: The schema as the hand-written migrations leave it.
baseline: true
tables:
  accounts:
    description: An account.
    columns:
      id: {type: integer, primary_key: true}
      email: {type: text}
    indexes:
      - columns: [email]
  notes:
    description: A note.
    columns:
      id: {type: integer, primary_key: true}
      body: {type: text, nullable: true}
"""
STREAMING = """description: Streams.
tables:
  streams:
    description: A stream.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      title: {type: text}
"""
ROWS = [(1, "a@example.com"), (2, "b@example.com")]


def project(
    root: Path,
    engine: str,
    ignore: list[str] | None = None,
    *,
    files: tuple[str, ...] = FILES,
    baseline: str | None = "20251013",
    streaming: str = "20251014",
    text: str = BASELINE,
) -> Path:
    """The hand-written ``files`` adopted, a baseline spec describing what they leave (numbered ``baseline``),
    and a spec above them that creates ``streams`` (numbered ``streaming``), built for ``engine``."""
    (root / "specs").mkdir(parents=True)
    (root / "migrations").mkdir()
    settings = f'dialects = ["{engine}"]\n'
    if ignore is not None:
        settings += f"ignore_tables = {json.dumps(ignore)}\n"
    (root / "schemac.toml").write_text(settings, encoding="utf-8")
    for name in files:
        (root / "migrations" / name).write_text(hand_written(engine)[name], encoding="utf-8")
    schemac.adopt(root)
    if baseline is not None:
        (root / "specs" / f"{baseline}_baseline.yaml").write_text(text, encoding="utf-8")
    (root / "specs" / f"{streaming}_streaming.yaml").write_text(STREAMING, encoding="utf-8")
    schemac.build(root)
    return root


def _connection(url: str, engine: str) -> Any:
    """A plain driver connection, as another runner opens one (autocommit on the servers)."""
    if engine == "sqlite":
        return sqlite3.connect(url)
    if engine == "postgresql":
        import psycopg

        return psycopg.connect(url, autocommit=True)
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
        autocommit=True,
    )


def other_runner(url: str, engine: str, root: Path, files: list[str] | None = None) -> None:
    """The first user's runner: each file in version order, then its row in ``_migrations``."""
    files = sorted(FILES if files is None else files, key=lambda name: int(name.split("_", 1)[0]))
    connection = _connection(url, engine)
    try:
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE _migrations (version BIGINT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL)")
        for name in files:
            version, rest = name.split("_", 1)
            text = (root / "migrations" / name).read_text(encoding="utf-8")
            row = f"INSERT INTO _migrations (version, name) VALUES ({int(version)}, '{rest.removesuffix('.sql')}');"
            if engine == "sqlite":
                connection.executescript(f"BEGIN;\n{text}\n{row}\nCOMMIT;")
                continue
            for statement in [*text.split(";"), row]:
                if statement.strip():
                    cursor.execute(statement)
    finally:
        connection.close()


def history(url: str) -> list[tuple[int, str, str, int]]:
    """schemac_history's rows (version, name, checksum, execution_ms); none when it does not exist."""
    with opened(url) as database:
        if not database.table_exists("schemac_history"):
            return []
        rows = database.query("SELECT version, name, checksum, execution_ms FROM schemac_history ORDER BY version")
    return [(int(v), n, c, int(ms)) for v, n, c, ms in rows]


def accounts(url: str) -> list[tuple[int, str]]:
    with opened(url) as database:
        return [(int(i), e) for i, e in database.query("SELECT id, email FROM accounts ORDER BY id")]


def drop_column(url: str, table: str, column: str) -> None:
    with opened(url) as database:
        database.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


MIGRATIONS = ["_migrations"]


@pytest.mark.parametrize("engine", ENGINES)
def test_baseline_records_the_adopted_versions_and_apply_then_runs_only_the_newer_one(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    root, url = project(tmp_path / "p", engine, MIGRATIONS), database_factory(engine)
    other_runner(url, engine, root)
    shown = parse_url(url).shown

    result = schemac.baseline(root, url)
    files = tuple(f"migrations/{name}" for name in FILES)
    assert result == schemac.BaselineResult(shown, 20251013, ADOPTED, files)
    migrations = {m.version: m for m in schemac.load_migrations(root / "migrations", engine)}
    assert history(url) == [(v, migrations[v].name, migrations[v].checksum, 0) for v in ADOPTED]
    assert [(e.version, e.state) for e in schemac.status(root, url).entries] == [
        (1, "applied"),
        (13, "applied"),
        (20251013, "applied"),
        (20251014, "pending"),
    ]
    checked = schemac.verify(root, url)
    assert (checked.version, checked.differences) == (20251013, ())

    applied = schemac.apply(root, url)
    assert [(m.version, m.name) for m in applied.applied] == [(20251014, "streaming")]
    assert applied.current_version == 20251014
    assert accounts(url) == ROWS  # the backfill ran once, by the other runner
    assert [(e.version, e.state) for e in schemac.status(root, url).entries] == [
        (1, "applied"),
        (13, "applied"),
        (20251013, "applied"),
        (20251014, "applied"),
    ]
    assert schemac.verify(root, url).ok
    assert schemac.apply(root, url).applied == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_drift_at_the_version_refuses_and_records_nothing(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    root, url = project(tmp_path / "p", engine, MIGRATIONS), database_factory(engine)
    other_runner(url, engine, root)
    drop_column(url, "notes", "body")

    finding = "specs/20251013_baseline.yaml:15:7: SC622 missing column 'notes.body'"
    assert findings(lambda: schemac.baseline(root, url)) == [finding]
    assert history(url) == []
    with opened(url) as database:
        assert not database.table_exists("schemac_history")

    outcome = run_cli("baseline", "--db", url, "--project", root)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (1, "", finding + "\n")
    assert history(url) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_database_that_also_ran_the_generated_file_is_baselined_to_it(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """The other runner ran schemac's generated file too: baselined to its version; then a column of it is
    found gone, as verify finds it."""
    root, url = project(tmp_path / "p", engine, MIGRATIONS), database_factory(engine)
    other_runner(url, engine, root, [*FILES, "20251014_streaming.sql"])
    drop_column(url, "streams", "title")
    finding = "specs/20251014_streaming.yaml:8:7: SC622 missing column 'streams.title'"
    assert findings(lambda: schemac.baseline(root, url, 20251014)) == [finding]
    assert history(url) == []

    with opened(url) as database:
        database.execute("ALTER TABLE streams ADD COLUMN title TEXT NOT NULL")
    result = schemac.baseline(root, url, 20251014)
    assert (result.version, result.recorded) == (20251014, (*ADOPTED, 20251014))
    assert [e.state for e in schemac.status(root, url).entries] == ["applied"] * 4
    assert schemac.apply(root, url).applied == ()
    assert accounts(url) == ROWS
    assert schemac.verify(root, url).ok


def test_a_baseline_spec_above_the_adopted_files_is_the_default_version(tmp_path: Path) -> None:
    """The baseline spec has no file: a database with the files below it applied is at it, for verify too."""
    # Numbered above the adopted files, the baseline is where plain keys take effect: on SQLite it says
    # identity: true of the files' INTEGER keys, as import --baseline writes them.
    described = BASELINE.replace("primary_key: true}", "primary_key: true, identity: true}")
    root = project(tmp_path / "p", "sqlite", MIGRATIONS, baseline="20251020", streaming="20251021", text=described)
    url = str(tmp_path / "app.db")
    other_runner(url, "sqlite", root)
    result = schemac.baseline(root, url)
    assert (result.version, result.recorded) == (20251020, ADOPTED)
    checked = schemac.verify(root, url)
    assert (checked.version, checked.differences) == (20251013, ())
    assert [m.version for m in schemac.apply(root, url).applied] == [20251021]
    assert schemac.verify(root, url).ok


def test_the_other_runners_table_is_drift_unless_ignored(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite"), str(tmp_path / "app.db")
    other_runner(url, "sqlite", root)
    extra = f"{url}:1:1: SC621 extra table '_migrations': in the database, not in the specs"
    assert findings(lambda: schemac.baseline(root, url)) == [extra]
    assert history(url) == []
    outcome = run_cli("baseline", "--db", url, "--project", root)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (1, "", extra + "\n")
    assert history(url) == []

    (root / "schemac.toml").write_text('dialects = ["sqlite"]\nignore_tables = ["_migrations"]\n', encoding="utf-8")
    assert schemac.baseline(root, url).recorded == ADOPTED
    assert schemac.verify(root, url).ok


def test_verify_skips_the_ignored_tables(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite"), str(tmp_path / "app.db")
    schemac.apply(root, url)
    with opened(url) as database:
        database.execute("CREATE TABLE _migrations (version INTEGER PRIMARY KEY)")
    assert [str(d) for d in schemac.verify(root, url).differences] == [
        f"{url}:1:1: SC621 extra table '_migrations': in the database, not in the specs"
    ]
    (root / "schemac.toml").write_text(
        'dialects = ["sqlite"]\nignore_tables = ["_migrations", "notes"]\n', encoding="utf-8"
    )
    drop_column(url, "notes", "body")  # an ignored table is compared neither way
    assert schemac.verify(root, url).ok
    with opened(url) as database:
        database.execute("DROP TABLE notes")
    assert schemac.verify(root, url).ok


def test_a_table_no_spec_describes_is_drift(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS, baseline=None), str(tmp_path / "app.db")
    other_runner(url, "sqlite", root)
    assert findings(lambda: schemac.baseline(root, url)) == [
        f"{url}:1:1: SC621 extra table 'accounts': in the database, not in the specs",
        f"{url}:1:1: SC621 extra table 'notes': in the database, not in the specs",
    ]
    assert history(url) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_database_schemac_manages_is_refused(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    root, url = project(tmp_path / "p", engine, MIGRATIONS), database_factory(engine)
    other_runner(url, engine, root)
    schemac.baseline(root, url)
    schemac.apply(root, url)
    before = history(url)
    shown = parse_url(url).shown
    message = (
        f"{shown}:1:1: SC613 baseline refused: {shown} is already managed by schemac (schemac_history records 4 "
        "applied versions, the newest 20251014) (hint: see its versions with 'schemac status', and run the newer "
        "ones with 'schemac apply')"
    )
    assert findings(lambda: schemac.baseline(root, url)) == [message]
    outcome = run_cli("baseline", "--db", url, "--project", root)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (2, "", message + "\n")
    assert history(url) == before


def test_one_applied_version_is_enough_to_refuse(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS), str(tmp_path / "app.db")
    schemac.apply(root, url, to=1)
    assert findings(lambda: schemac.baseline(root, url)) == [
        f"{url}:1:1: SC613 baseline refused: {url} is already managed by schemac (schemac_history records 1 "
        "applied version, the newest 1) (hint: see its versions with 'schemac status', and run the newer ones with "
        "'schemac apply')"
    ]


def test_without_adopted_files_or_a_baseline_spec_a_version_is_needed(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", [], files=(), baseline=None), str(tmp_path / "app.db")
    sqlite3.connect(url).close()
    message = (
        "migrations:1:1: SC614 no version to baseline to: the manifest records no adopted file and no baseline spec "
        "(hint: pass --version V, the version of the newest migration file whose changes the database holds)"
    )
    assert findings(lambda: schemac.baseline(root, url)) == [message]
    outcome = run_cli("baseline", "--db", url, "--project", root)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (2, "", message + "\n")
    assert history(url) == []


def test_a_version_no_file_has_is_refused_naming_the_versions(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS), str(tmp_path / "app.db")
    other_runner(url, "sqlite", root)
    assert findings(lambda: schemac.baseline(root, url, 12)) == [
        "migrations:1:1: SC614 --version 12: no migration file and no baseline spec has version 12 (the versions: "
        "1, 13, 20251013, 20251014) (hint: pass the version of the newest migration file whose changes the database "
        "holds)"
    ]
    outcome = run_cli("baseline", "--db", url, "--project", root, "--version", "12")
    assert outcome.returncode == 2
    assert history(url) == []


def test_a_lower_version_records_only_the_files_up_to_it(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS), str(tmp_path / "app.db")
    other_runner(url, "sqlite", root, ["001_initial.sql", "013_backfill.sql"])
    # below the baseline spec the specs describe no table
    assert findings(lambda: schemac.baseline(root, url, 13)) == [
        f"{url}:1:1: SC621 extra table 'accounts': in the database, not in the specs"
    ]
    (root / "schemac.toml").write_text(
        'dialects = ["sqlite"]\nignore_tables = ["_migrations", "accounts"]\n', encoding="utf-8"
    )
    assert schemac.baseline(root, url, 13).recorded == (1, 13)
    assert [m.version for m in schemac.apply(root, url).applied] == [20251013, 20251014]
    assert accounts(url) == ROWS


def test_a_sqlite_file_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS), str(tmp_path / "missing.db")
    assert findings(lambda: schemac.baseline(root, url)) == [
        f"{url}:1:1: SC606 database file '{url}' does not exist (hint: check the path: only 'schemac apply' "
        "creates one)"
    ]
    assert not Path(url).exists()


def test_the_cli_lists_each_recorded_file_and_the_version(tmp_path: Path) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS), str(tmp_path / "app.db")
    other_runner(url, "sqlite", root)
    outcome = run_cli("baseline", "--db", url, "--project", root)
    assert (outcome.returncode, outcome.stderr) == (0, "")
    assert outcome.stdout.splitlines() == [
        "recorded migrations/001_initial.sql",
        "recorded migrations/013_backfill.sql",
        "recorded migrations/20251013_more.sql",
        f"3 recorded as applied; {url} is at version 20251013",
    ]
    applied = run_cli("apply", "--db", url, "--project", root)
    assert (applied.returncode, applied.stdout) == (0, f"1 applied; {url} is at version 20251014\n")
    status = run_cli("status", "--db", url, "--project", root)
    assert status.returncode == 0
    assert [line.split()[:3] for line in status.stdout.splitlines()] == [
        ["applied", "1", "migrations/001_initial.sql"],
        ["applied", "13", "migrations/013_backfill.sql"],
        ["applied", "20251013", "migrations/20251013_more.sql"],
        ["applied", "20251014", "migrations/20251014_streaming.sql"],
    ]


@pytest.mark.parametrize(
    ("fmt", "quiet"), [("json", False), ("github", False), ("text", True)], ids=["json", "github", "quiet"]
)
def test_the_cli_formats(tmp_path: Path, fmt: str, quiet: bool) -> None:
    root, url = project(tmp_path / "p", "sqlite", MIGRATIONS), str(tmp_path / "app.db")
    other_runner(url, "sqlite", root)
    outcome = run_cli("baseline", "--db", url, "--project", root, "--format", fmt, *(["--quiet"] if quiet else []))
    assert (outcome.returncode, outcome.stderr) == (0, "")
    if fmt == "json":
        assert json.loads(outcome.stdout) == {"version": 20251013, "recorded": list(ADOPTED)}
    else:
        assert outcome.stdout == ""
    refused = run_cli("baseline", "--db", url, "--project", root, "--format", fmt)
    assert refused.returncode == 2
    if fmt == "json":
        assert [d["code"] for d in json.loads(refused.stdout)] == ["SC613"]
    elif fmt == "github":
        assert refused.stdout.startswith(f"::error file={url},line=1,col=1,title=SC613::SC613 baseline refused: ")


def test_ignore_tables_is_validated(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "specs").mkdir(parents=True)
    (root / "schemac.toml").write_text('dialects = ["sqlite"]\nignore_tables = "_migrations"\n', encoding="utf-8")
    assert findings(lambda: schemac.status(root, str(tmp_path / "app.db"))) == [
        "schemac.toml:2:1: SC702 ignore_tables must be a list of table names, not '_migrations'"
    ]
    (root / "schemac.toml").write_text('ignore_tables = ["ok", ""]\n', encoding="utf-8")
    assert findings(lambda: schemac.validate(root)) == [
        "schemac.toml:1:1: SC702 ignore_tables must be a list of table names, not ['ok', '']"
    ]
