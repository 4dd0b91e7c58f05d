"""A PostgreSQL streaming standby: the writers refuse it, ``status`` and ``verify`` read it and say
where it is in its primary's log, and ``verify --wait-for-replay`` waits for it to catch up.

The primary and standby are servers of their own (:mod:`pg_cluster`), started once for the module;
each test gets a fresh database on them, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import schemac
from conftest import IN_CI, PG_URL, case_project, findings, run_cli
from pg_cluster import Cluster, ClusterError, start_cluster
from schemac.applier import standby as standbys
from schemac.dialects.base import Replay, log_offset
from schemac.dialects.connections import parse_url

pytest.importorskip("psycopg")

THREE = Path(__file__).resolve().parent / "golden" / "three_dialects"
HINT_640 = "the standby receives every change by replication: check it with 'schemac verify --wait-for-replay SECONDS'"
REPLAY_LINE = (
    r"standby: replay lag [0-9]+\.[0-9] s \(received [0-9A-F]+/[0-9A-F]+, replayed [0-9A-F]+/[0-9A-F]+"
    r"(, [0-9]+ bytes to replay)?\)"
)
"""The line ``status`` and ``verify`` print on a standby (the primary may have written more log meanwhile)."""
UNWORDED = "check bodies and defaults not compared: "
HINT_643 = "pass --primary URL, the standby's primary, to compare them in a session there"
EXCEPT = " except check bodies and defaults, not compared"


def not_compared(standby: str) -> str:
    """The SC643 warning of ``verify`` on a standby without ``--primary``."""
    return (
        f"{standby}:1:1: SC643 {UNWORDED}{standby} is a standby, which cannot create the temporary table in which "
        f"the engine words them (hint: {HINT_643})"
    )


def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; a bound (not a measure) that keeps a broken server from hanging the run."""
    for _ in range(1200):
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} never happened")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        started = start_cluster()
    except LookupError as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    except ClusterError as exc:
        pytest.fail(f"the primary and standby did not start:\n{exc}")
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def pair(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """(primary URL, standby URL) of a fresh database, which the standby has replayed."""
    name = f"schemac_t_{uuid.uuid4().hex[:12]}"
    cluster.on_primary(f'CREATE DATABASE "{name}"')
    cluster.wait_until_replayed()
    try:
        yield cluster.primary_url.replace("/test", f"/{name}"), cluster.standby_url.replace("/test", f"/{name}")
    finally:
        cluster.on_standby("SELECT pg_wal_replay_resume()")
        cluster.on_primary(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    built = case_project(THREE, "postgresql", tmp_path)
    schemac.build(built)
    return built


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        cursor = connection.execute(sql)
        return list(cursor.fetchall()) if cursor.description else []


def pause_replay(cluster: Cluster) -> None:
    cluster.on_standby("SELECT pg_wal_replay_pause()")
    until(
        lambda: cluster.on_standby("SELECT pg_get_wal_replay_pause_state()") == [("paused",)],
        "the standby's replay pausing",
    )


def received_all(cluster: Cluster, primary: str) -> str:
    """The end of the primary's log, once the standby has received it all (replayed or not)."""
    goal = str(query(primary, "SELECT pg_current_wal_flush_lsn()::text")[0][0])
    until(
        lambda: cluster.on_standby(f"SELECT pg_last_wal_receive_lsn() >= '{goal}'") == [(True,)],
        "the standby receiving the primary's log",
    )
    return goal


def refused(verb: str, standby: str) -> str:
    return (
        f"{standby}:1:1: SC640 {verb} refused: {standby} is a read-only standby (it replays its primary's log); "
        f"point {verb} at the primary (hint: {HINT_640})"
    )


def test_apply_on_a_standby_is_refused_before_it_locks_or_changes_anything(
    project: Path, pair: tuple[str, str]
) -> None:
    primary, standby = pair
    import psycopg

    # Another session holds the applier's lock there: a refusal after locking would be SC608 (lock_timeout 0).
    database = standby.rsplit("/", 1)[1]
    holder = psycopg.connect(standby, autocommit=True)
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (zlib.crc32(f"schemac:{database}.public".encode()),))
        for extra in ([], ["--dry-run"]):
            result = run_cli("apply", "--db", standby, "--lock-timeout", "0", "-p", project, *extra)
            assert (result.returncode, result.stdout, result.stderr) == (2, "", refused("apply", standby) + "\n")
    finally:
        holder.close()
    assert findings(lambda: schemac.apply(project, standby)) == [refused("apply", standby)]
    for url in pair:
        assert query(
            url, "SELECT to_regclass('schemac_history') IS NULL, count(*) FROM pg_tables WHERE schemaname = 'public'"
        ) == [(True, 0)]
    assert schemac.apply(project, primary).current_version == 2  # the primary takes it


def test_baseline_on_a_standby_is_refused(project: Path, pair: tuple[str, str]) -> None:
    _, standby = pair
    result = run_cli("baseline", "--db", standby, "--version", "1", "-p", project)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", refused("baseline", standby) + "\n")
    assert findings(lambda: schemac.baseline(project, standby, 1)) == [refused("baseline", standby)]


def test_status_on_a_standby_says_where_it_is_in_the_primary_s_log(
    project: Path, pair: tuple[str, str], cluster: Cluster
) -> None:
    primary, standby = pair
    schemac.apply(project, primary)
    cluster.wait_until_replayed()
    result = run_cli("status", "--db", standby, "-p", project)
    assert result.returncode == 0, result.stderr
    *entries, last = result.stdout.splitlines()
    assert [line.split()[:3] for line in entries] == [
        ["applied", "1", "migrations/0001_catalog.sql"],
        ["applied", "2", "migrations/0002_orders.sql"],
    ]
    assert re.fullmatch(REPLAY_LINE, last), last
    assert result.stderr == ""
    on_primary = run_cli("status", "--db", primary, "-p", project)
    assert on_primary.stdout.splitlines() == entries  # a primary is no standby: no such line
    as_json = run_cli("status", "--db", standby, "-p", project, "-f", "json")
    assert [e["state"] for e in json.loads(as_json.stdout)] == ["applied", "applied"]
    assert re.fullmatch(REPLAY_LINE + "\n", as_json.stderr), as_json.stderr
    replay = schemac.status(project, standby).standby
    assert replay is not None and replay.receiving and replay.received is not None
    until(lambda: bool(getattr(schemac.status(project, standby).standby, "waiting", False)), "the replay idling")
    pause_replay(cluster)
    paused = schemac.status(project, standby).standby
    assert paused is not None and not paused.waiting  # paused: it does not wait for log, it waits to be resumed
    assert schemac.status(project, primary).standby is None


def test_verify_on_a_standby_waits_until_it_has_replayed_what_the_primary_had(
    project: Path, pair: tuple[str, str], cluster: Cluster
) -> None:
    primary, standby = pair
    pause_replay(cluster)
    schemac.apply(project, primary)
    received_all(cluster, primary)
    behind = run_cli("verify", "--db", standby, "-p", project)  # as of before apply: no table at all
    assert (behind.returncode, behind.stderr) == (0, ""), behind.stderr
    replay_line, clean = behind.stdout.splitlines()
    assert re.fullmatch(REPLAY_LINE, replay_line) and "bytes to replay" in replay_line, replay_line
    assert clean == f"{standby} matches the specs at version None"  # no table: nothing left uncompared
    name = f"schemac-wait-{uuid.uuid4().hex[:8]}"  # the application_name of the waiting verify's sessions
    waiting = subprocess.Popen(
        [sys.executable, "-m", "schemac", "verify", "--db", standby, "--wait-for-replay", "300", "-p", project],
        env={**os.environ, "SCHEMAC_PRIMARY_DB": primary, "PGAPPNAME": name},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Once its session on the primary has read the goal, it waits: the paused standby cannot reach it.
        until(
            lambda: (
                waiting.poll() is not None
                or bool(
                    query(
                        primary,
                        f"SELECT 1 FROM pg_stat_activity WHERE application_name = '{name}' "
                        "AND query LIKE '%pg_current_wal_flush_lsn()%'",
                    )
                )
            ),
            "verify reading the primary's log position",
        )
        assert waiting.poll() is None, waiting.communicate()
        assert query(standby, "SELECT to_regclass('schemac_history') IS NULL") == [(True,)]  # still behind
        cluster.on_standby("SELECT pg_wal_replay_resume()")
        out, err = waiting.communicate(timeout=300)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert (waiting.returncode, err) == (0, "")
    line, done = out.splitlines()
    assert re.fullmatch(REPLAY_LINE, line), line
    assert done == f"{standby} matches the specs at version 2"  # as of after the replay it waited for
    result = schemac.verify(project, standby, wait_for_replay=10, primary=primary)
    assert (result.ok, result.version, result.warnings) == (True, 2, ())
    assert result.standby is not None
    alone = schemac.verify(project, standby, wait_for_replay=10)  # all it had received: replayed
    assert (alone.ok, alone.version, [str(w) for w in alone.warnings]) == (True, 2, [not_compared(standby)])


def test_verify_gives_up_waiting_with_sc641(project: Path, pair: tuple[str, str], cluster: Cluster) -> None:
    primary, standby = pair
    pause_replay(cluster)
    schemac.apply(project, primary)
    goal = received_all(cluster, primary)
    hint = (
        "check the replication (pg_stat_wal_receiver on the standby, pg_stat_replication on the primary), "
        "or wait longer"
    )
    lag = r"standby: replay lag [0-9]+\.[0-9] s \(received [0-9A-F/]+, replayed [0-9A-F/]+, [0-9]+ bytes to replay\)"
    flushed = "SELECT pg_current_wal_flush_lsn()::text"
    for extra, wanted, bound in (
        (["--primary", primary], "where the primary's log was when the wait started", lambda: query(primary, flushed)),
        (
            [],
            "what it had received when the wait started",
            lambda: query(standby, "SELECT pg_last_wal_receive_lsn()::text"),
        ),
    ):
        result = run_cli("verify", "--db", standby, "--wait-for-replay", "0.5", "-p", project, *extra)
        expected = (
            re.escape(f"{standby}:1:1: SC641 --wait-for-replay 0.5: {standby} did not replay up to ")
            + "([0-9A-F]+/[0-9A-F]+)"
            + re.escape(f", {wanted}, in time; ")
            + lag
            + re.escape(f" (hint: {hint})")
        )
        assert result.returncode == 1 and result.stdout == ""
        shown = re.fullmatch(expected + "\n", result.stderr)
        assert shown, result.stderr
        # The goal: the log the migrations were written in, or more (the primary's own records since).
        assert log_offset(goal) <= log_offset(shown[1]) <= log_offset(str(bound()[0][0]))


def test_verify_with_another_cluster_as_primary_is_refused(project: Path, pair: tuple[str, str]) -> None:
    _, standby = pair
    try:
        other = query(PG_URL, "SELECT system_identifier::text FROM pg_control_system()")[0][0]
    except Exception as exc:  # the test server
        pytest.skip(f"{PG_URL} not reachable: {exc}")
    own = query(standby, "SELECT system_identifier::text FROM pg_control_system()")[0][0]
    result = run_cli("verify", "--db", standby, "--primary", PG_URL, "--wait-for-replay", "5", "-p", project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"{PG_URL}:1:1: SC642 --primary {PG_URL} is not the primary of {standby}: its cluster is {other}, the "
        f"standby's {own} (hint: pass the URL of the server the standby replicates from (primary_conninfo in its "
        "settings))\n"
    )
    sqlite = "sqlite:///elsewhere.db"
    assert findings(lambda: schemac.verify(project, standby, primary=sqlite)) == [
        f"{sqlite}:1:1: SC642 --primary {sqlite} is a sqlite database: the primary of {standby} is a postgresql "
        "server (hint: pass the URL of the server the standby replicates from (primary_conninfo in its settings))"
    ]


def test_check_bodies_on_a_standby_are_compared_in_the_primary_s_session(
    project: Path, pair: tuple[str, str], cluster: Cluster
) -> None:
    primary, standby = pair
    schemac.apply(project, primary)
    query(
        primary,
        "ALTER TABLE products DROP CONSTRAINT ck_products_title_not_blank, "
        "ADD CONSTRAINT ck_products_title_not_blank CHECK (length(title) > 1)",
    )
    cluster.wait_until_replayed()
    alone = schemac.verify(project, standby)  # the standby cannot word the expected body: not compared, and said
    assert (alone.ok, alone.version, [str(w) for w in alone.warnings]) == (True, 2, [not_compared(standby)])
    text = run_cli("verify", "--db", standby, "-p", project)
    assert (text.returncode, text.stderr) == (0, not_compared(standby) + "\n")
    replay_line, last = text.stdout.splitlines()
    assert re.fullmatch(REPLAY_LINE, replay_line), replay_line
    assert last == f"{standby} matches the specs at version 2{EXCEPT}"
    quiet = run_cli("verify", "--db", standby, "-p", project, "--quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", not_compared(standby) + "\n")
    as_json = run_cli("verify", "--db", standby, "-p", project, "-f", "json")
    assert as_json.returncode == 0 and re.fullmatch(REPLAY_LINE + "\n", as_json.stderr), as_json.stderr
    assert json.loads(as_json.stdout) == [
        {
            "file": standby,
            "line": 1,
            "column": 1,
            "code": "SC643",
            "severity": "warning",
            "message": not_compared(standby).split(" SC643 ", 1)[1].split(" (hint: ")[0],
            "hint": HINT_643,
        }
    ]
    with_primary = run_cli("verify", "--db", standby, "--primary", primary, "-p", project)
    assert (with_primary.returncode, with_primary.stderr) == (
        1,
        "specs/0001_catalog.yaml:30:21: SC626 check 'ck_products_title_not_blank' on 'products' is "
        "CHECK ((length(title) > 1)), the specs give CHECK ((length(title) > 0))\n",
    )
    assert schemac.verify(project, standby, primary=primary).warnings == ()
    assert [str(d) for d in schemac.verify(project, standby, primary=primary).differences] == [
        "specs/0001_catalog.yaml:30:21: SC626 check 'ck_products_title_not_blank' on 'products' is "
        "CHECK ((length(title) > 1)), the specs give CHECK ((length(title) > 0))"
    ]
    assert [str(d) for d in schemac.verify(project, primary).differences] == [
        str(d) for d in schemac.verify(project, standby, primary=primary).differences
    ]


def test_the_password_of_primary_is_never_shown(project: Path, pair: tuple[str, str]) -> None:
    _, standby = pair
    primary = "postgresql://postgres:s3cr%40t-word@127.0.0.1:1/test"
    shown = "postgresql://postgres:***@127.0.0.1:1/test"
    text = run_cli("verify", "--db", standby, "--primary", primary, "-p", project)
    as_json = run_cli("verify", "--db", standby, "--primary", primary, "-p", project, "-f", "json")
    assert (text.returncode, as_json.returncode) == (2, 2)
    for result in (text, as_json):
        assert "s3cr" not in result.stdout + result.stderr
    assert text.stderr.startswith(f"{shown}:1:1: SC606 cannot connect: ")
    (finding,) = json.loads(as_json.stdout)
    assert (finding["file"], finding["code"]) == (shown, "SC606")


def test_a_session_that_cannot_make_a_temporary_table_says_what_it_did_not_compare(
    project: Path, pair: tuple[str, str], cluster: Cluster
) -> None:
    """A read-only session (here the primary's, for the database itself and as --primary of the standby)
    cannot word check bodies and defaults either: the same warning names that session."""
    primary, standby = pair
    schemac.apply(project, primary)
    database = primary.rsplit("/", 1)[1]
    cluster.on_primary(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    cluster.wait_until_replayed()
    warning = (
        f"{primary}:1:1: SC643 {UNWORDED}the session on {primary} cannot create the temporary table in which the "
        "engine words them (hint: verify with a role that may create temporary tables, in a session that is not "
        "read-only)"
    )
    for db, extra in ((primary, []), (standby, ["--primary", primary])):
        result = run_cli("verify", "--db", db, "-p", project, *extra)
        assert (result.returncode, result.stderr) == (0, warning + "\n")
        assert result.stdout.splitlines()[-1] == f"{db} matches the specs at version 2{EXCEPT}"
    assert [str(w) for w in schemac.verify(project, primary).warnings] == [warning]


def _at(received: int, replayed: int, receiving: bool = True, waiting: bool = False) -> Replay:
    return Replay("7", f"0/{received:X}", f"0/{replayed:X}", received - replayed, 0.5, receiving, waiting)


class _Standby:
    """A standby whose log position each read takes from ``reads``."""

    driver_error = RuntimeError

    def __init__(self, *reads: Replay) -> None:
        self.reads = list(reads)

    def replay(self) -> Replay:
        return self.reads.pop(0)


def test_without_primary_the_wait_ends_at_what_the_standby_had_received_when_it_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A primary that keeps writing keeps what the standby received ahead of what it replayed: the wait ends
    once it has replayed what it had received at the start (or, with no WAL receiver connected then, at
    the first read with one), not when nothing is left to replay."""
    monkeypatch.setattr(standbys, "POLL_INTERVAL", 0)
    target = parse_url("postgresql://app@standby/app")
    busy = _Standby(_at(0x300, 0x180), _at(0x400, 0x200), _at(0x500, 0x300))
    assert standbys.wait_until_replayed(busy, target, 300, _at(0x200, 0x100)) == _at(0x400, 0x200)
    assert busy.reads == [_at(0x500, 0x300)]
    reconnecting = _Standby(_at(0x300, 0x100), _at(0x400, 0x2FF), _at(0x500, 0x300), _at(0x600, 0x400))
    start = _at(0x200, 0x100, receiving=False)
    assert standbys.wait_until_replayed(reconnecting, target, 300, start) == _at(0x500, 0x300)
    # What it received ends past its last record (the rest of a log page), which it never replays: once its
    # replay waits for more log on two reads in a row at the same positions, it has replayed all it can.
    padded = _Standby(_at(0x2000, 0x1FE0, waiting=True), _at(0x2000, 0x1FE0, waiting=True), _at(0x3000, 0x2FE0))
    assert standbys.wait_until_replayed(padded, target, 300, _at(0x2000, 0x1FE0)) == _at(0x2000, 0x1FE0, waiting=True)
    assert padded.reads == [_at(0x3000, 0x2FE0)]
    moving = _Standby(_at(0x2000, 0x1FE0, waiting=True), _at(0x2100, 0x1FE0, waiting=True), _at(0x2100, 0x2100))
    goal = _at(0x2100, 0x1000)  # the primary's position, not received yet at the first read
    assert standbys.wait_until_replayed(moving, target, 300, goal, "0/2100") == _at(0x2100, 0x2100)
    assert findings(lambda: standbys.wait_until_replayed(_Standby(), target, 0, _at(0x200, 0x100))) == [
        "postgresql://app@standby/app:1:1: SC641 --wait-for-replay 0: postgresql://app@standby/app did not replay "
        "up to 0/200, what it had received when the wait started, in time; standby: replay lag 0.5 s (received "
        "0/200, replayed 0/100, 256 bytes to replay) (hint: check the replication (pg_stat_wal_receiver on the "
        "standby, pg_stat_replication on the primary), or wait longer)"
    ]


def test_the_catalog_reader_shares_its_snapshot_on_a_standby_too(
    project: Path, pair: tuple[str, str], cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``import`` reads the catalog in one exported snapshot, which its second connection shares: a standby
    exports one too, and the catalog read there is the one read from its primary."""
    from schemac.dialects.connections import connect, parse_url
    from schemac.importing import postgresql
    from schemac.importing.catalog import reader

    primary, standby = pair
    schemac.apply(project, primary)
    cluster.wait_until_replayed()
    exported: list[str | None] = []
    original = postgresql._Reader.snapshot

    def spied(self: postgresql._Reader) -> str | None:
        exported.append(original(self))
        return exported[-1]

    monkeypatch.setattr(postgresql._Reader, "snapshot", spied)
    catalogs = []
    for url in (primary, standby):
        target = parse_url(url)
        database = connect(target, 30, read_only=True)
        try:
            catalogs.append(reader("postgresql")(database, None))
        finally:
            database.close()
    assert catalogs[0] == catalogs[1] and len(catalogs[0].tables) == 3
    assert len(exported) == 2 and all(postgresql.SNAPSHOT_ID.fullmatch(s or "") for s in exported), exported


def test_import_from_a_standby_says_it_could_not_have_the_engine_word_checks(
    project: Path, pair: tuple[str, str], cluster: Cluster, tmp_path: Path
) -> None:
    """A standby cannot make the temporary table in which the engine words checks and defaults: the audit
    checks, read as the catalog shows them, are not recognised, and the refusal says why (SC643)."""
    primary, standby = pair
    schemac.apply(project, primary)
    cluster.wait_until_replayed()
    target = tmp_path / "imported"
    target.mkdir()
    (target / "schemac.toml").write_bytes((project / "schemac.toml").read_bytes())
    with pytest.raises(schemac.SchemacError) as refused:
        schemac.import_spec(target, db=standby, tables=["orders"])
    assert [str(d) for d in refused.value.diagnostics] == [
        f"{standby}:1:1: SC616 table 'orders' can only be described by a baseline spec: its audit columns "
        "(created_at, created_by, updated_at, updated_by) are not those an audit policy adds (hint: import with "
        "--baseline, or leave the table out with --tables)",
        f"{standby}:1:1: SC643 check bodies and defaults not compared: {standby} cannot create the temporary table "
        "in which the engine words them, so each was read as the catalog shows it (hint: import from the primary, "
        "in a session that is not read-only, with a role that may create temporary tables: a derived or audit "
        "check may otherwise not be recognised)",
    ]
    assert schemac.import_spec(target, db=primary, tables=["orders"]).warnings == ()
