"""``apply`` on a three-node MariaDB Galera cluster (started by ``tests/galera.py``): appliers started at
once on every node apply each version once, under a lock row the cluster replicates; DDL runs in total
order; ``verify`` is clean on every node. And on a plain MariaDB server the lock is still ``GET_LOCK``."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

import schemac
from conftest import case_project, findings, opened, run_cli
from galera import GaleraCluster, Node
from schemac.dialects import mariadb
from schemac.dialects.mariadb import MariaDBDatabase

VERSIONS = [1, 2, 3, 4]
TOI_LINE = "galera: DDL in total order (TOI) on a 3-node cluster"


@pytest.fixture
def cluster_db(galera_cluster: GaleraCluster) -> Iterator[list[str]]:
    """A new database on the cluster: its URL on each node."""
    name = f"schemac_g_{uuid.uuid4().hex[:12]}"
    first = galera_cluster.nodes[0].connect()
    with first.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    for node in galera_cluster.nodes:  # a node still applying an earlier test's long DDL has not made it yet
        galera_cluster.wait_for(lambda node=node: database_on(node, name), f"database {name} on node{node.number}")
    try:
        yield [node.url(name) for node in galera_cluster.nodes]
    finally:
        with first.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        first.close()


def database_on(node: Node, name: str) -> bool:
    connection = node.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
            return bool(cursor.fetchall())
    finally:
        connection.close()


THREE = Path(__file__).resolve().parent / "golden" / "three_dialects"
LATER_SPECS = {
    "0003_coupons.yaml": """description: Coupons.
tables:
  coupons:
    description: A discount code.
    audit: none
    columns:
      code: {type: string(20), primary_key: true}
""",
    "0004_order_priority.yaml": """description: Order notes and priorities.
tables:
  orders:
    description: One customer order.
    audit: [created, updated]
    columns:
      id:        {type: uuid, primary_key: true}
      status:    {type: text, enum: [open, paid], default: open}
      coupon:    {type: text, nullable: true}
      note:      {type: text, nullable: true}
      priority:  {type: integer, default: 0}
    indexes:
      - columns: [status]
      - columns: [priority]
""",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Four versions built for MariaDB: new tables with keys, foreign keys and checks, then an ALTER."""
    root = case_project(THREE, "mariadb", tmp_path)
    for name, text in LATER_SPECS.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    schemac.build(root)
    return root


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until ``condition`` holds; a safety limit, not a timed assertion."""
    for _ in range(600):
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with opened(url) as database:
        return database.query(sql)


def history(url: str) -> list[tuple[Any, ...]]:
    return rows(url, "SELECT version, name, checksum, applied_at, execution_ms FROM schemac_history ORDER BY version")


def test_appliers_started_at_once_on_three_nodes_apply_each_version_once(project: Path, cluster_db: list[str]) -> None:
    command = [sys.executable, "-m", "schemac", "apply", "--project", str(project), "--db"]
    runs = [
        subprocess.Popen([*command, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for url in cluster_db
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    outcomes = [(run.returncode, out, err) for run, (out, err) in zip(runs, outputs, strict=True)]
    assert [(code, err) for code, _, err in outcomes] == [(0, "")] * 3
    counts = []
    for url, (_, out, _) in zip(cluster_db, outcomes, strict=True):
        toi, summary = out.splitlines()
        assert toi == TOI_LINE
        count, _, rest = summary.partition(" applied; ")
        assert rest == f"{url} is at version 4"
        counts.append(int(count))
    assert sorted(counts) == [0, 0, 4]  # one applier ran every version; the others found nothing left
    recorded = [history(url) for url in cluster_db]
    assert [row[0] for row in recorded[0]] == VERSIONS
    assert recorded[1] == recorded[0] and recorded[2] == recorded[0]
    for url in cluster_db:
        assert rows(url, "SELECT COUNT(*) FROM schemac_lock") == [(0,)]
        assert rows(url, "SELECT COUNT(*) FROM schemac_progress") == [(0,)]
        checked = run_cli("verify", "--db", url, "--project", project)
        assert (checked.returncode, checked.stderr) == (0, ""), checked.stdout
        assert schemac.verify(project, url).differences == ()


def claim(url: str, node: str, session: int, expires_in_s: int) -> None:
    """Write the lock row as an applier on ``node`` whose session is ``session`` would have."""
    with opened(url) as database:
        database.execute(
            "REPLACE INTO schemac_lock VALUES ('apply', 'crashed:1:00000000', %s, %s, UTC_TIMESTAMP(6), "
            "DATE_ADD(UTC_TIMESTAMP(6), INTERVAL %s SECOND))",
            (node, session, expires_in_s),
        )


def test_a_lock_row_is_taken_over_only_after_a_whole_lease_unchanged(
    project: Path, cluster_db: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever ``expires_at`` says (another node's clock): a waiter takes a row over once it has seen it
    unchanged for a whole lease on its own clock, and not while its holder's session runs a statement."""
    node1, node2, node3 = cluster_db
    schemac.apply(project, node1, to=1)  # creates schemac_lock
    claim(node2, "node2", 999_999_999, -3600)  # expired by node 2's clock, but a waiter trusts only its own

    def refused(url: str) -> None:
        outcome = run_cli("apply", "--db", url, "--project", project, "--lock-timeout", "0.5")
        assert (outcome.returncode, outcome.stdout) == (2, "")
        assert outcome.stderr == (
            f"{url}:1:1: SC608 another schemac apply held the migration lock for 0.5 s "
            "(hint: wait for it to finish, or raise --lock-timeout)\n"
        )

    refused(node3)
    monkeypatch.setattr(MariaDBDatabase, "lock_lease", 0.5)
    with opened(node3) as alive, opened(node3) as admin:  # its holder's statement still runs here
        session = alive.query("SELECT CONNECTION_ID()")[0][0]

        def sleep() -> None:
            with suppress(alive.driver_error):  # 1317: interrupted by the KILL QUERY below
                alive.query("SELECT SLEEP(120)")

        running = threading.Thread(target=sleep)
        running.start()
        try:
            command = f"SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = {int(session)}"
            wait_for(lambda: admin.query(command) == [("Query",)], "the holder's statement to start")
            claim(node3, "node3", session, -5)
            assert findings(lambda: schemac.apply(project, node3, lock_timeout=2)) == [
                f"{node3}:1:1: SC608 another schemac apply held the migration lock for 2 s "
                "(hint: wait for it to finish, or raise --lock-timeout)"
            ]
        finally:
            admin.execute(f"KILL QUERY {int(session)}")
            running.join()
        assert [row[0] for row in history(node3)] == [1]
        taken = schemac.apply(project, node3, to=2, lock_timeout=30)  # the session is idle now
        assert ([m.version for m in taken.applied], taken.current_version, taken.cluster) == ([2], 2, TOI_LINE)
    claim(node2, "node2", 999_999_999, 3600)  # a holder on another node that died, whatever its expires_at
    taken = schemac.apply(project, node3, lock_timeout=30)
    assert ([m.version for m in taken.applied], taken.current_version) == ([3, 4], 4)
    assert rows(node1, "SELECT COUNT(*) FROM schemac_lock") == [(0,)]
    assert [row[0] for row in history(node1)] == VERSIONS


def own_sessions(node: Node, database: str, keep: set[int]) -> list[int]:
    """The connections to ``database`` on ``node`` other than ``keep``: a holder's lease renewer."""
    admin = node.connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s", (database,))
            return sorted(int(row[0]) for row in cursor.fetchall() if int(row[0]) not in keep)
    finally:
        admin.close()


def test_a_killed_renewer_connection_is_opened_again_and_the_lease_holds(
    cluster_db: list[str], galera_cluster: GaleraCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(MariaDBDatabase, "lock_lease", 1.5)
    node1, node2, node3 = cluster_db
    name = node1.rsplit("/", 1)[1]
    with opened(node1) as holder, opened(node2) as waiter, holder.locked(5):
        mine = {int(holder.query("SELECT CONNECTION_ID()")[0][0])}
        killed = own_sessions(galera_cluster.nodes[0], name, mine)
        assert len(killed) == 1
        admin = galera_cluster.nodes[0].connect()
        with admin.cursor() as cursor:
            cursor.execute(f"KILL CONNECTION {killed[0]}")
        admin.close()
        time.sleep(4)  # more than two leases
        renewers = own_sessions(galera_cluster.nodes[0], name, mine)
        assert len(renewers) == 1 and renewers != killed
        assert findings(lambda: waiter.locked(3).__enter__()) == [
            f"{node2}:1:1: SC608 another schemac apply held the migration lock for 3 s "
            "(hint: wait for it to finish, or raise --lock-timeout)"
        ]
        assert holder.lock_lost() == ""
        assert rows(node3, "SELECT node FROM schemac_lock") == [("node1",)]
    assert rows(node3, "SELECT COUNT(*) FROM schemac_lock") == [(0,)]


def test_a_holder_whose_renewals_fail_stops_before_its_next_statement(
    project: Path, cluster_db: list[str], galera_cluster: GaleraCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session on the holder's node keeps the lock row locked, so that every renewal times out: a waiter on
    another node takes the row over a whole lease later, when the holder no longer counts on it, and the
    holder stops, with SC637, before the first statement of its next version."""
    monkeypatch.setattr(MariaDBDatabase, "lock_lease", 1.5)
    lease_class, leases = mariadb._Lease, []

    def spied(*args: Any) -> Any:
        leases.append(lease_class(*args))
        return leases[-1]

    monkeypatch.setattr(mariadb, "_Lease", spied)
    node1, node2, _ = cluster_db
    blocker = galera_cluster.nodes[0].connect(node1.rsplit("/", 1)[1])
    taken, seen = threading.Event(), []

    def take_over() -> None:
        with opened(node2) as waiter, waiter.locked(60):
            seen.append((time.monotonic() < leases[0].held_until, rows(node2, "SELECT node FROM schemac_lock")))
            taken.set()

    def after(applied: Any) -> None:
        with blocker.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT * FROM schemac_lock WHERE name = 'apply' FOR UPDATE")
        waiting = threading.Thread(target=take_over)
        waiting.start()
        waiting.join(timeout=60)
        assert taken.is_set()

    assert findings(lambda: schemac.apply(project, node1, to=2, on_applied=after)) == [
        "migrations/0002_orders.sql:5:1: SC637 galera: another applier took the migration lock "
        "over, as this run's lease went unrenewed for 1.5 s (hint: what ran before this statement stays applied; "
        "rerun apply to resume here (it waits for the lock))"
    ]
    blocker.close()
    assert seen == [(False, [("node2",)])]  # the holder no longer counted on the lock when the waiter took it
    assert [row[0] for row in history(node2)] == [1]
    resumed = schemac.apply(project, node2, lock_timeout=30)
    assert ([m.version for m in resumed.applied], resumed.current_version) == ([2, 3, 4], 4)


def test_a_holder_that_cannot_renew_for_a_whole_lease_stops_before_its_next_statement(
    project: Path, cluster_db: list[str], galera_cluster: GaleraCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every renewal times out (a session on the holder's node keeps the lock row locked) and no waiter
    comes: the holder, past half a lease, tries for a whole lease more, then stops with SC637."""
    monkeypatch.setattr(MariaDBDatabase, "lock_lease", 1.5)
    node1, node2, _ = cluster_db
    blocker = galera_cluster.nodes[0].connect(node1.rsplit("/", 1)[1])

    def after(applied: Any) -> None:
        with blocker.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT * FROM schemac_lock WHERE name = 'apply' FOR UPDATE")
        time.sleep(1.5)  # a whole lease: the holder no longer counts on the row

    try:
        assert findings(lambda: schemac.apply(project, node1, to=2, on_applied=after)) == [
            "migrations/0002_orders.sql:5:1: SC637 galera: the migration lock's lease could not be renewed for "
            "1.5 s, so another applier may take the lock over ((2013, 'Lost connection to MySQL server during query "
            "(timed out)')) (hint: what ran before this statement stays applied; rerun apply to resume here (it "
            "waits for the lock))"
        ]
    finally:
        blocker.close()
    assert [row[0] for row in history(node2)] == [1]
    resumed = schemac.apply(project, node2, lock_timeout=30)
    assert ([m.version for m in resumed.applied], resumed.current_version) == ([2, 3, 4], 4)


def test_a_ddl_statement_longer_than_the_lease_keeps_the_lock(
    cluster_db: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DDL statement in total order holds back every node's commits, the holder's renewals among them:
    a waiter sees it run on its own node and waits on; one with a short --lock-timeout gives up in time."""
    monkeypatch.setattr(MariaDBDatabase, "lock_lease", 1.0)
    node1, node2, node3 = cluster_db
    with opened(node1) as holder:
        holder.execute("CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200)) ENGINE=InnoDB")
        holder.execute("SET SESSION max_recursive_iterations = 1000000")
        holder.execute(
            "INSERT INTO big WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000) "
            "SELECT i, REPEAT('x', 200) FROM n"
        )
        released, order = threading.Event(), []

        def wait_for_the_lock() -> None:
            with opened(node2) as waiter, waiter.locked(120):
                order.append(("waiter took the lock", released.is_set()))

        waiting = threading.Thread(target=wait_for_the_lock)
        with holder.locked(5):
            waiting.start()
            # A check worked out for each row keeps the copy going for seconds, however fast the machine.
            slow = "ADD CONSTRAINT slow CHECK (SHA2(REPEAT(pad, 50), 512) <> '')"
            alter = threading.Thread(
                target=holder.execute,
                args=(f"ALTER TABLE big ADD COLUMN extra INT NOT NULL DEFAULT 0, {slow}, ALGORITHM=COPY",),
            )
            alter.start()
            with opened(node3) as watcher:
                watcher.execute("SET SESSION wsrep_sync_wait = 0")
                running = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE big%'"
                wait_for(lambda: watcher.query(running) == [(1,)], "the ALTER to run on node 3")
            with opened(node3) as other:
                assert findings(lambda: other.locked(1).__enter__()) == [
                    f"{node3}:1:1: SC608 another schemac apply held the migration lock for 1 s "
                    "(hint: wait for it to finish, or raise --lock-timeout)"
                ]
            lapsed = time.monotonic() > holder._lease.held_until  # no renewal has committed for half a lease
            assert (lapsed, alter.is_alive()) == (True, True)  # and the waiter gave up while the ALTER ran
            alter.join()
            assert holder.query("SHOW COLUMNS FROM big LIKE 'extra'")[0][0] == "extra"  # the ALTER ran
            assert holder.lock_lost() == ""  # the next renewal found the row still the holder's
            assert rows(node3, "SELECT node FROM schemac_lock") == [("node1",)]
            assert order == []
            released.set()  # the holder leaves the lock now
        waiting.join(timeout=120)
    assert order == [("waiter took the lock", True)]
    assert rows(node3, "SELECT COUNT(*) FROM schemac_lock") == [(0,)]


def test_the_holder_renews_its_lease(cluster_db: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MariaDBDatabase, "lock_lease", 0.6)
    with opened(cluster_db[0]) as holder, holder.locked(5):
        expires = "SELECT expires_at FROM schemac_lock"
        first = rows(cluster_db[1], expires)
        for _ in range(50):
            later = rows(cluster_db[1], expires)
            if later != first:
                break
            holder.query("SELECT SLEEP(0.1)")
        assert later > first
        assert rows(cluster_db[2], "SELECT expires_at > UTC_TIMESTAMP(6) FROM schemac_lock") == [(1,)]
    assert rows(cluster_db[2], "SELECT COUNT(*) FROM schemac_lock") == [(0,)]


def test_rolling_schema_upgrade_is_refused(project: Path, cluster_db: list[str], galera_cluster: GaleraCluster) -> None:
    admin = galera_cluster.nodes[0].connect()
    with admin.cursor() as cursor:
        cursor.execute("SET GLOBAL wsrep_OSU_method = 'RSU'")
    try:
        outcome = run_cli("apply", "--db", cluster_db[0], "--project", project)
    finally:
        with admin.cursor() as cursor:
            cursor.execute("SET GLOBAL wsrep_OSU_method = 'TOI'")
        admin.close()
    assert (outcome.returncode, outcome.stdout) == (2, "")
    assert outcome.stderr == (
        f"{cluster_db[0]}:1:1: SC635 galera: wsrep_OSU_method is RSU, so DDL would change this node alone, not the "
        "cluster (hint: set it back to TOI, the default: SET GLOBAL wsrep_OSU_method = 'TOI')\n"
    )
    assert rows(cluster_db[1], "SHOW TABLES LIKE 'schemac_history'") == []


def test_a_node_outside_the_primary_component_is_refused(
    project: Path, cluster_db: list[str], galera_cluster: GaleraCluster
) -> None:
    """Node 3 cut off from the others (``gmcast.isolate``) is a non-primary component of its own."""
    node3 = galera_cluster.nodes[2]
    admin = node3.connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
        galera_cluster.wait_for(lambda: node3.status().get("wsrep_ready") == "OFF", "node 3 to leave the cluster")
        outcome = run_cli("apply", "--db", cluster_db[2], "--project", project)
    finally:
        with admin.cursor() as cursor:
            cursor.execute("SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
        admin.close()
        galera_cluster.wait_synced()
    assert (outcome.returncode, outcome.stdout) == (2, "")
    assert outcome.stderr == (
        f"{cluster_db[2]}:1:1: SC636 galera: this node is not ready to apply (wsrep_ready = OFF, cluster status "
        "non-Primary) (hint: apply through a node of the cluster's primary component)\n"
    )
    assert rows(cluster_db[0], "SHOW TABLES LIKE 'schemac_history'") == []


def test_on_a_galera_node_the_lock_is_the_row_not_get_lock(cluster_db: list[str]) -> None:
    with opened(cluster_db[0]) as holder:
        assert holder.galera  # type: ignore[attr-defined]
        name = holder.query("SELECT LEFT(CONCAT('schemac:', DATABASE()), 64)")[0][0]
        with holder.locked(5):
            assert rows(cluster_db[0], f"SELECT IS_USED_LOCK('{name}')") == [(None,)]
            assert rows(cluster_db[2], "SELECT node FROM schemac_lock") == [("node1",)]


def test_on_a_plain_server_the_lock_is_get_lock(database_factory: Callable[[str], str]) -> None:
    url = database_factory("mariadb")
    with opened(url) as holder:
        assert not holder.galera  # type: ignore[attr-defined]
        name = holder.query("SELECT LEFT(CONCAT('schemac:', DATABASE()), 64)")[0][0]
        session = holder.query("SELECT CONNECTION_ID()")[0][0]
        with holder.locked(5):
            assert holder.cluster == ""
            assert rows(url, f"SELECT IS_USED_LOCK('{name}')") == [(session,)]
            assert rows(url, "SHOW TABLES LIKE 'schemac_lock'") == []
        assert rows(url, f"SELECT IS_USED_LOCK('{name}')") == [(None,)]


KEYLESS = """\
description: A keyless log.
tables:
  visits:
    description: A page visit, append-only.
    audit: none
    columns:
      path: {type: text}
"""


@pytest.mark.parametrize(
    ("dialects", "lint_settings", "expected"),
    [
        (
            '["sqlite", "mariadb"]',
            "",
            [
                "specs/0001_log.yaml:3:3: SC904 table 'visits' has no primary key (hint: add primary_key: true on "
                "one column, or a table-level primary_key: [..])",
                "specs/0001_log.yaml:3:3: SC912 table 'visits' has no primary key, which a mariadb Galera cluster "
                "needs (hint: add primary_key: true on one column, or a table-level primary_key: [..])",
                "specs/0001_log.yaml:5:12: SC901 table 'visits' opts out of audit columns created, updated, deleted "
                "(keeps: none) (hint: intended for append-only or reference tables: keep the finding visible for "
                "auditors, or set audit: full)",
            ],
        ),
        (
            '["mariadb"]',
            '\n[lint]\ndisable = ["SC904", "SC901"]\n',
            [
                "specs/0001_log.yaml:3:3: SC912 table 'visits' has no primary key, which a mariadb Galera cluster "
                "needs (hint: add primary_key: true on one column, or a table-level primary_key: [..])",
            ],
        ),
        ('["sqlite", "postgresql"]', '\n[lint]\ndisable = ["SC904", "SC901"]\n', []),
    ],
)
def test_lint_requires_a_primary_key_on_every_table_of_a_mariadb_project(
    make_project: Callable[..., Path], dialects: str, lint_settings: str, expected: list[str]
) -> None:
    project = make_project({"0001_log.yaml": KEYLESS}, f"dialects = {dialects}\n{lint_settings}")
    outcome = run_cli("lint", "--project", project)
    assert outcome.stderr.splitlines() == expected
    assert outcome.returncode == (1 if expected else 0)
