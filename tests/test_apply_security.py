"""Nothing in the database is trusted: forged or odd rows of schemac's own tables, a deleted history row
and a locked SQLite file are each a clear diagnostic, never a guess, a re-run or an internal error."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import ENGINES, opened, run_cli
from schemac.applier import LiveSchema, split_statements
from test_apply import built
from test_apply_resume import BASE, EVOLVE, KILLED, at_version_1, killed_run, publish, snapshot


def versions(url: str) -> list[int]:
    with opened(url) as database:
        return [int(v) for (v,) in database.query("SELECT version FROM schemac_history ORDER BY version")]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_deleted_history_row_is_a_gap_that_apply_runs_only_out_of_order(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built(engine, tmp_path, third=True), database_factory(engine)
    schemac.apply(project, url)
    with opened(url) as database:
        database.execute("DELETE FROM schemac_history WHERE version = 2")
    gap = (
        f"migrations/0002_orders.sql:1:1: SC611 version 2 is pending but {url} is already at version 3 (hint: if it "
        "was never applied (a branch merged after newer versions ran), run apply --out-of-order; if its "
        "schemac_history row was deleted, restore the row)\n"
    )
    refused = run_cli("apply", "--db", url, "--project", project)
    assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", gap)
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, url, dry_run=True)
    assert [f"{d}\n" for d in caught.value.diagnostics] == [gap]
    assert versions(url) == [1, 3]
    shown = run_cli("status", "--db", url, "--project", project)
    assert (shown.returncode, shown.stderr) == (1, gap)
    assert [line.split()[:2] for line in shown.stdout.splitlines()] == [
        ["applied", "1"],
        ["pending", "2"],
        ["applied", "3"],
    ]
    with pytest.raises(schemac.SchemacError) as backwards:  # below the database's version: nothing runs
        schemac.apply(project, url, to=1)
    assert [str(d) for d in backwards.value.diagnostics] == [
        f"{url}:1:1: SC609 --to 1 is below version 3, where {url} is: apply never goes backwards (hint: to undo a "
        "version, write a follow-up spec that changes the schema back, and apply it)"
    ]
    assert backwards.value.exit_code == 1
    ran = run_cli("apply", "--db", url, "--project", project, "--out-of-order")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, f"1 applied; {url} is at version 3\n", "")
    assert versions(url) == [1, 2, 3]
    assert run_cli("status", "--db", url, "--project", project).returncode == 0


@pytest.fixture
def evolving(tmp_path: Path) -> Path:
    return publish(tmp_path / "project", {"0001_base.sql": BASE, "0002_evolve.sql": EVOLVE})


def checksum(project: Path, version: int) -> str:
    return next(m.checksum for m in schemac.load_migrations(project / "migrations", "mariadb") if m.version == version)


def refused_everywhere(project: Path, url: str, expected: str) -> None:
    """``status`` and ``apply`` each exit 1 with exactly ``expected``, as ``apply --dry-run`` refuses; nothing runs."""
    before = snapshot(url)
    for command in ("status", "apply"):
        outcome = run_cli(command, "--db", url, "--project", project)
        assert (outcome.returncode, outcome.stderr) == (1, expected), command
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, url, dry_run=True)
    assert [f"{d}\n" for d in caught.value.diagnostics] == [expected]
    assert snapshot(url) == before


@pytest.mark.parametrize("statements", [12, -1])
def test_a_progress_row_counting_statements_the_file_does_not_have_is_refused(
    evolving: Path, database_factory: Callable[[str], str], statements: int
) -> None:
    url = database_factory("mariadb")
    at_version_1(evolving, url)
    with opened(url) as database:
        database.execute(
            "INSERT INTO schemac_progress VALUES (2, %s, %s, 'stopped', NULL, NULL)",
            (checksum(evolving, 2), statements),
        )
    refused_everywhere(
        evolving,
        url,
        f"{url}:1:1: SC612 schemac_progress says {statements} statements of version 2 ran, but "
        "migrations/0002_evolve.sql holds 11 (hint: check which statements of the file ran, then correct the row: "
        "UPDATE schemac_progress SET statements = <how many ran>, state = 'stopped' WHERE version = 2)\n",
    )


def test_a_progress_row_for_an_applied_version_is_refused_until_removed(
    evolving: Path, database_factory: Callable[[str], str]
) -> None:
    url = database_factory("mariadb")
    at_version_1(evolving, url)
    with opened(url) as database:
        database.execute(
            "INSERT INTO schemac_progress VALUES (1, %s, 3, 'running', NULL, NULL)", (checksum(evolving, 1),)
        )
    refused_everywhere(
        evolving,
        url,
        f"{url}:1:1: SC612 version 1 is applied, yet schemac_progress records a run of it (3 statements) (hint: "
        "check the database; then remove the row: DELETE FROM schemac_progress WHERE version = 1)\n",
    )
    with opened(url) as database:
        database.execute("DELETE FROM schemac_progress WHERE version = 1")
    assert schemac.apply(evolving, url).current_version == 2


def test_progress_values_schemac_cannot_have_written_are_refused(
    evolving: Path, database_factory: Callable[[str], str]
) -> None:
    url = database_factory("mariadb")
    at_version_1(evolving, url)
    with opened(url) as database:
        database.execute("ALTER TABLE schemac_progress MODIFY statements VARCHAR(20), MODIFY state VARCHAR(2000)")
        database.execute(
            "INSERT INTO schemac_progress VALUES (2, %s, 'two', %s, NULL, NULL)", (checksum(evolving, 2), "x" * 1000)
        )
    refused_everywhere(
        evolving,
        url,
        f"{url}:1:1: SC612 schemac_progress holds a row for version 2 where statements is 'two', not an integer; "
        f"state is '{'x' * 38}…, not 'running', 'stopped' or NULL (hint: check which statements of the version "
        "ran, then correct the row: UPDATE schemac_progress SET statements = <how many ran>, state = 'stopped' "
        "WHERE version = …)\n",
    )


def test_a_schema_changed_where_the_next_statement_does_not_look_is_refused_until_settled(
    evolving: Path, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """Killed just before RENAME TABLE clients, then someone adds a table: whether the RENAME ran cannot be
    told from the objects it names, since the schema changed elsewhere. Refused; the operator settles it."""
    url = database_factory("mariadb")
    at_version_1(evolving, url)
    rename = split_statements(EVOLVE)[0].sql
    assert killed_run(evolving, url, lambda _, sql: sql == rename, tmp_path / "seen.sql") == KILLED
    with opened(url) as database:
        database.execute("CREATE TABLE stray (x INT)")
    hint = (
        "check whether statement 1 ran; then run UPDATE schemac_progress SET statements = 1, state = 'stopped' "
        "WHERE version = 2 if it did, or UPDATE schemac_progress SET state = 'stopped' WHERE version = 2 if it "
        "did not, and rerun apply"
    )
    refused_everywhere(
        evolving,
        url,
        f"migrations/0002_evolve.sql:1:1: SC612 the schema of {url} changed since schemac_progress recorded 0 of 11 "
        f"statements of version 2 as run, but not in any object statement 1 names: whether it ran is unknown "
        f"(hint: {hint})\n",
    )
    with opened(url) as database:
        database.execute("UPDATE schemac_progress SET state = 'stopped' WHERE version = 2")
    assert schemac.apply(evolving, url).current_version == 2
    assert {"customers", "notes", "stray"} <= snapshot(url)["tables"].keys()


def nth(statement: str, count: int) -> Callable[[int, str], bool]:
    """Picks the ``count``-th time a run sends ``statement`` (for :func:`killed_run`)."""
    seen: list[str] = []

    def stop(_: int, sql: str) -> bool:
        seen.append(sql)
        return seen.count(statement) == count and sql == statement

    return stop


def test_a_schema_changed_before_a_data_change_is_refused_until_settled(
    evolving: Path, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """A data change commits with its progress row, so a changed schema before one is never its doing."""
    url, reference = database_factory("mariadb"), database_factory("mariadb")
    schemac.apply(evolving, reference)
    at_version_1(evolving, url)
    begun = tmp_path / "seen.sql"  # killed as the INSERT's transaction (the second one) begins
    assert killed_run(evolving, url, nth("START TRANSACTION", 2), begun) == KILLED
    with opened(url) as database:
        database.execute("CREATE TABLE stray (x INT)")
    refused_everywhere(
        evolving,
        url,
        f"migrations/0002_evolve.sql:9:1: SC612 the schema of {url} changed since schemac_progress recorded 8 of 11 "
        "statements of version 2 as run, and no statement of it explains the change (hint: check the database; "
        "then run UPDATE schemac_progress SET state = 'stopped' WHERE version = 2 and rerun apply)\n",
    )
    with opened(url) as database:
        database.execute("UPDATE schemac_progress SET state = 'stopped' WHERE version = 2")
        database.execute("DROP TABLE stray")
    assert schemac.apply(evolving, url).current_version == 2
    assert snapshot(url) == snapshot(reference)


def test_a_forged_fingerprint_is_refused(evolving: Path, database_factory: Callable[[str], str]) -> None:
    url = database_factory("mariadb")
    at_version_1(evolving, url)
    with opened(url) as database:
        named = LiveSchema(database).fingerprint(split_statements(EVOLVE)[3].sql)
        database.execute(
            "INSERT INTO schemac_progress VALUES (2, %s, 3, 'running', %s, %s)",
            (checksum(evolving, 2), "0" * 64, named),
        )
    refused_everywhere(
        evolving,
        url,
        f"migrations/0002_evolve.sql:4:1: SC612 the schema of {url} changed since schemac_progress recorded 3 of 11 "
        "statements of version 2 as run, but not in any object statement 4 names: whether it ran is unknown "
        "(hint: check whether statement 4 ran; "
        "then run UPDATE schemac_progress SET statements = 4, state = 'stopped' WHERE version = 2 if it did, or "
        "UPDATE schemac_progress SET state = 'stopped' WHERE version = 2 if it did not, and rerun apply)\n",
    )


def test_a_progress_row_an_older_schemac_left_is_settled_by_the_operator_then_resumed(
    evolving: Path, database_factory: Callable[[str], str]
) -> None:
    """The old table records how many statements ran after each one, not whether the next one ran."""
    url, reference = database_factory("mariadb"), database_factory("mariadb")
    schemac.apply(evolving, reference)
    at_version_1(evolving, url)
    with opened(url) as database:
        database.execute("DROP TABLE schemac_progress")
        database.execute(
            "CREATE TABLE schemac_progress (version BIGINT NOT NULL PRIMARY KEY, checksum CHAR(64) NOT NULL, "
            "statements INT NOT NULL)"
        )
        for statement in split_statements(EVOLVE)[:2]:
            database.execute(statement.sql)
        database.execute("INSERT INTO schemac_progress VALUES (2, %s, 2)", (checksum(evolving, 2),))
    expected = (
        "migrations/0002_evolve.sql:3:1: SC612 schemac_progress says 2 of 11 statements of version 2 ran, but "
        "records no schema fingerprint (an older schemac wrote it): whether statement 3 ran is unknown (hint: check "
        "whether statement 3 ran; then run UPDATE schemac_progress SET statements = 3, state = 'stopped' WHERE "
        "version = 2 if it did, or UPDATE schemac_progress SET state = 'stopped' WHERE version = 2 if it did not, "
        "and rerun apply (apply first gives the table its state column))\n"
    )
    shown = run_cli("status", "--db", url, "--project", evolving)
    assert (shown.returncode, shown.stderr) == (1, expected)
    refused = run_cli("apply", "--db", url, "--project", evolving)
    assert (refused.returncode, refused.stderr) == (1, expected)
    with opened(url) as database:  # statement 3 (CREATE INDEX) did not run
        database.execute("UPDATE schemac_progress SET state = 'stopped' WHERE version = 2")
    assert run_cli("apply", "--db", url, "--project", evolving).returncode == 0
    assert snapshot(url) == snapshot(reference)


def untyped_history(url: str, rows: list[tuple[object, ...]]) -> None:
    """Replace a SQLite database's history with an untyped table holding ``rows``, as a forger could."""
    with sqlite3.connect(url) as connection:
        connection.execute("DROP TABLE schemac_history")
        connection.execute("CREATE TABLE schemac_history (version, name, checksum, applied_at, execution_ms)")
        connection.executemany("INSERT INTO schemac_history VALUES (?, ?, ?, ?, ?)", rows)
    connection.close()


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ([("abc", "catalog", "c", "t", 1)], "holds a row where version is 'abc', not an integer"),
        ([(1e30, "catalog", "c", "t", 1)], "holds a row where version is 1e+30, not an integer"),
        (
            [(1, None, "c", None, "slow")],
            "holds a row where name is None, not text; applied_at is None, not a time; "
            "execution_ms is 'slow', not an integer",
        ),
        ([(1, "catalog", "c", "t", 1), (1, "catalog", "d", "t", 1)], "holds 2 rows for version 1"),
    ],
)
def test_history_rows_schemac_cannot_have_written_are_sc612_in_every_command(
    tmp_path: Path, rows: list[tuple[object, ...]], said: str
) -> None:
    project = built("sqlite", tmp_path, third=True)
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=1)
    untyped_history(url, rows)
    expected = (
        f"{url}:1:1: SC612 schemac_history {said} (hint: schemac_history was changed outside schemac: restore it "
        "from a backup, or correct the row)"
    )
    for command in ("status", "apply", "verify"):
        outcome = run_cli(command, "--db", url, "--project", project)
        assert outcome.returncode == 1, (command, outcome.stderr)
        assert expected in outcome.stderr.splitlines(), (command, outcome.stderr)
        assert "internal error" not in outcome.stderr


def test_a_history_table_without_its_columns_is_sc612(tmp_path: Path) -> None:
    project = built("sqlite", tmp_path, third=True)
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=1)
    with sqlite3.connect(url) as connection:
        connection.execute("ALTER TABLE schemac_history DROP COLUMN execution_ms")
    connection.close()
    for command in ("status", "apply", "verify"):
        outcome = run_cli(command, "--db", url, "--project", project)
        assert (outcome.returncode, outcome.stderr) == (
            1,
            f"{url}:1:1: SC612 schemac_history cannot be read: no such column: execution_ms "
            "(hint: schemac_history was changed outside schemac: restore it)\n",
        ), command


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_a_retyped_history_column_is_sc612(engine: str, tmp_path: Path, database_factory: Callable[[str], str]) -> None:
    project, url = built(engine, tmp_path, third=True), database_factory(engine)
    schemac.apply(project, url, to=1)
    retype = {"postgresql": "ALTER COLUMN version TYPE text", "mariadb": "MODIFY version VARCHAR(40)"}[engine]
    with opened(url) as database:
        database.execute(f"ALTER TABLE schemac_history {retype}")
        database.execute("UPDATE schemac_history SET version = 'one'")
        database.execute("INSERT INTO schemac_history VALUES ('9223372036854775807', 'huge', 'c', '2024-01-01', 0)")
    outcome = run_cli("status", "--db", url, "--project", project)
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines() == [
        f"{url}:1:1: SC612 schemac_history holds a row where version is {value!r}, not an integer (hint: "
        "schemac_history was changed outside schemac: restore it from a backup, or correct the row)"
        for value in sorted(["one", "9223372036854775807"])
    ]


LOCK_AFTER_CONNECT = """
import sqlite3, sys
from schemac import cli
from schemac import dialects

class Held(dialects.sqlite.SQLiteDatabase):
    def __init__(self, target, connection):
        super().__init__(target, connection)
        connection.execute("PRAGMA busy_timeout = 10")  # status and verify wait 300 and 30 s otherwise
        holder = sqlite3.connect(target.url, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process's write lock, taken just after schemac connected
        Held.holder = holder

dialects.DATABASES["sqlite"] = Held
sys.argv = ["schemac", *sys.argv[1:]]
cli.main()
"""


@pytest.mark.parametrize("command", ["status", "verify", "apply"])
def test_a_sqlite_lock_taken_after_connecting_is_sc608(tmp_path: Path, command: str) -> None:
    project = built("sqlite", tmp_path, third=True)
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=1)
    outcome = subprocess.run(
        [sys.executable, "-c", LOCK_AFTER_CONNECT, command, "--db", url, "--project", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (outcome.returncode, outcome.stderr) == (
        2,
        f"{url}:1:1: SC608 another schemac apply held the migration lock for 0.01 s "
        "(hint: wait for it to finish, or raise --lock-timeout)\n",
    )


def test_a_sqlite_commit_blocked_by_a_reader_past_the_lock_timeout_is_sc608(tmp_path: Path) -> None:
    project = built("sqlite", tmp_path, third=True)
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=1)
    reader = sqlite3.connect(url, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM products").fetchall()  # a shared lock: no writer can commit
    outcome = run_cli("apply", "--db", url, "--project", project, "--lock-timeout", "0.01")
    reader.execute("ROLLBACK")
    reader.close()
    assert (outcome.returncode, outcome.stderr) == (
        2,
        f"{url}:1:1: SC608 another schemac apply held the migration lock for 0.01 s "
        "(hint: wait for it to finish, or raise --lock-timeout)\n",
    )
    assert versions(url) == [1]
    assert run_cli("apply", "--db", url, "--project", project).returncode == 0
