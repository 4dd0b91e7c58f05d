"""MariaDB commits each DDL statement on its own: a run killed at any point resumes without running a
committed statement again, and ends in the state a run that was never killed reaches."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import schemac
from conftest import case_project, opened, run_cli
from schemac.applier import LiveSchema, split_statements
from schemac.dialects.mariadb import MariaDBDatabase
from schemac.migrations.manifest import Manifest, parse_manifest, sha256_hex

BASE = """\
CREATE TABLE clients (id INT NOT NULL PRIMARY KEY, name VARCHAR(50) NOT NULL, legacy TEXT) ENGINE=InnoDB;
CREATE TABLE logs (id INT NOT NULL PRIMARY KEY, message VARCHAR(100) NOT NULL, KEY idx_logs_message (message));
CREATE TABLE invoices (id INT NOT NULL PRIMARY KEY, client_id INT NOT NULL,
    CONSTRAINT fk_invoices_client FOREIGN KEY (client_id) REFERENCES clients (id));
CREATE TABLE drafts (id INT NOT NULL PRIMARY KEY);
INSERT INTO clients VALUES (1, 'ada', 'x'), (2, 'bob', NULL);
INSERT INTO logs VALUES (1, 'started'), (2, 'stopped');
INSERT INTO invoices VALUES (10, 1), (11, 2);
"""
# Renames (of a table other tables' keys name, and of a key's column), index changes, an added and a
# dropped column, a dropped and a created table, data changes, a session setting the statements after
# it need: none guarded by IF [NOT] EXISTS, so a statement run twice fails or changes the rows.
EVOLVE = """\
RENAME TABLE clients TO customers;
DROP INDEX idx_logs_message ON logs;
CREATE INDEX idx_logs_message_id ON logs (message, id);
ALTER TABLE customers ADD COLUMN email VARCHAR(100) NOT NULL DEFAULT '';
SET @suffix = '!';
UPDATE customers SET email = CONCAT(name, '@example.org'), name = CONCAT(name, @suffix);
ALTER TABLE customers DROP COLUMN legacy;
ALTER TABLE invoices RENAME COLUMN client_id TO customer_id;
INSERT INTO logs (id, message) SELECT id + 100, name FROM customers;
DROP TABLE drafts;
CREATE TABLE notes (id INT NOT NULL PRIMARY KEY, body TEXT NOT NULL);
"""
KILLED = 77


def publish(root: Path, files: dict[str, str]) -> Path:
    """A MariaDB project whose migrations are ``files`` ({name: SQL}), each in the manifest as built."""
    (root / "specs").mkdir(parents=True)
    (root / "schemac.toml").write_text('dialects = ["mariadb"]\n', encoding="utf-8")
    for version, name in enumerate(files, 1):
        columns = "      columns:\n        id: {type: integer, primary_key: true}\n"
        spec = f"description: x\ntables:\n    t{version}:\n      audit: none\n{columns}"
        (root / "specs" / f"{name.removesuffix('.sql')}.yaml").write_text(spec, encoding="utf-8")
    schemac.build(root)
    migrations = root / "migrations"
    manifest = parse_manifest((migrations / "manifest.json").read_bytes(), "manifest.json")
    for file, text in files.items():
        (migrations / file).write_text(text, encoding="utf-8")
    entries = tuple(
        dataclasses.replace(e, sha256=sha256_hex((migrations / e.file).read_bytes())) for e in manifest.entries
    )
    (migrations / "manifest.json").write_text(Manifest(manifest.dialect, entries).to_text(), encoding="utf-8")
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return publish(tmp_path / "project", {"0001_base.sql": BASE, "0002_evolve.sql": EVOLVE})


def snapshot(url: str) -> dict[str, Any]:
    """Every table's definition and rows, the history and what is left in schemac_progress."""
    with opened(url) as database:
        names = [n for (n,) in database.query("SHOW TABLES") if not n.startswith("schemac_")]
        return {
            "tables": {n: database.query(f"SHOW CREATE TABLE `{n}`")[0][1] for n in sorted(names)},
            "live": database.tables(),
            "rows": {n: database.query(f"SELECT * FROM `{n}` ORDER BY 1") for n in sorted(names)},
            "history": database.query("SELECT version, name, checksum FROM schemac_history ORDER BY version"),
            "progress": database.query("SELECT * FROM schemac_progress"),
        }


def killed_run(project: Path, url: str, stop: Callable[[int, str], bool], seen: Path) -> int:
    """Apply in a forked process that dies (``os._exit``) before the first statement of any kind (the
    n-th it sends, with its SQL) that ``stop`` picks.

    The statement it stopped before is written to ``seen``. Returns the exit code: KILLED, or 0 when
    the run finished first.
    """
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            calls = 0
            execute = MariaDBDatabase.execute

            def dying(self: MariaDBDatabase, sql: str, params: Any = ()) -> None:
                nonlocal calls
                calls += 1
                if stop(calls, sql):
                    seen.write_text(sql, encoding="utf-8")
                    os._exit(KILLED)
                execute(self, sql, params)

            MariaDBDatabase.execute = dying  # type: ignore[method-assign]
            schemac.apply(project, url)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def at_version_1(project: Path, url: str) -> None:
    """The database as ``apply --to 1`` leaves it, made without the applier's bookkeeping (quicker)."""
    first = schemac.load_migrations(project / "migrations", "mariadb")[0]
    with opened(url) as database:
        for sql in (database.history_ddl, database.progress_ddl, *(s.sql for s in split_statements(first.sql))):
            database.execute(sql)
        database.execute(
            "INSERT INTO schemac_history VALUES (%s, %s, %s, UTC_TIMESTAMP(6), 0)", (1, first.name, first.checksum)
        )


def test_a_run_killed_at_any_point_resumes_to_the_state_of_one_never_killed(
    project: Path, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """Killed before each statement the run sends (the migration's, its progress rows', the history row's),
    so after each one committed: the rerun runs each statement once, and status says where it resumes."""
    reference = database_factory("mariadb")
    schemac.apply(project, reference)
    expected = snapshot(reference)
    assert expected["progress"] == [] and [v for v, _, _ in expected["history"]] == [1, 2]
    seen, stopped_at = tmp_path / "seen.sql", []
    for boundary in itertools.count(1):
        url = database_factory("mariadb")
        at_version_1(project, url)
        code = killed_run(project, url, lambda calls, _, boundary=boundary: calls == boundary, seen)
        if code == 0:
            break
        assert code == KILLED, f"the run to kill at boundary {boundary} failed first"
        stopped_at.append(seen.read_text(encoding="utf-8"))
        where = f"killed at boundary {boundary}, before {stopped_at[-1][:60]!r}"
        status = schemac.status(project, url)
        assert {d.code for d in status.findings} <= {"SC604"}, (where, status.findings)
        assert status.ok == (not status.of("partial")), where
        assert schemac.apply(project, url).current_version == 2, where
        assert snapshot(url) == expected, where  # its progress row gone too
    assert set(stopped_at) >= {s.sql for s in split_statements(EVOLVE)}
    progress_writes = [sql for sql in stopped_at if sql.startswith("REPLACE INTO schemac_progress")]
    assert len(progress_writes) >= len(split_statements(EVOLVE)) - 1  # between each statement and the next


@pytest.fixture
def fresh_reads_compared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """After each statement, the schema a run keeps is compared with a fresh read; the statements checked."""
    refresh, checked = LiveSchema.refresh, []

    def checking(self: LiveSchema, *statements: str) -> None:
        refresh(self, *statements)
        assert self.digests == self.database.schema_digests(), statements[0]
        checked.append(statements[0])

    monkeypatch.setattr(LiveSchema, "refresh", checking)
    return checked


def test_the_schema_a_run_keeps_equals_a_fresh_read_after_every_statement(
    project: Path, database_factory: Callable[[str], str], fresh_reads_compared: list[str]
) -> None:
    """Reading again only the objects a statement names keeps the run's schema exact (renamed parents too)."""
    schemac.apply(project, database_factory("mariadb"))
    ddl = [s for s in split_statements(BASE + EVOLVE) if s.sql.startswith(("CREATE", "RENAME", "ALTER", "DROP"))]
    assert len(fresh_reads_compared) == len(ddl)


@pytest.mark.parametrize("case", ["evolve_rename_table", "evolve_foreign_key", "evolve_drop_table"])
def test_the_schema_a_run_keeps_stays_exact_over_generated_migrations(
    case: str, tmp_path: Path, database_factory: Callable[[str], str], fresh_reads_compared: list[str]
) -> None:
    project = case_project(Path(__file__).resolve().parent / "golden" / case, "mariadb", tmp_path)
    schemac.build(project)
    schemac.apply(project, database_factory("mariadb"))
    assert len(fresh_reads_compared) >= 5


def applier(project: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "schemac", "apply", "--db", url, "--project", str(project)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def sessions(url: str, where: str) -> list[tuple[Any, ...]]:
    """The server sessions on this database, but the one asking, that match ``where``."""
    with opened(url) as watcher:
        return watcher.query(
            "SELECT ID, STATE, INFO FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
            f"AND ID <> CONNECTION_ID() AND {where}"
        )


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + 60  # a safety limit, not a timed assertion
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def test_a_statement_killed_while_it_waits_for_a_lock_did_not_run_and_is_run_again(
    project: Path, database_factory: Callable[[str], str]
) -> None:
    """The server ends the session of a killed client that waits for a table lock, and with it the
    statement: the rerun finds the schema as recorded before it, and runs it."""
    url = database_factory("mariadb")
    at_version_1(project, url)
    with opened(url) as blocker:
        blocker.begin()
        blocker.query("SELECT * FROM clients")  # a metadata lock: RENAME TABLE clients waits for it
        process = applier(project, url)
        wait_for(lambda: sessions(url, "INFO LIKE 'RENAME TABLE clients%%' AND STATE LIKE 'Waiting%%'"), "RENAME")
        process.send_signal(signal.SIGKILL)
        process.wait()
        wait_for(lambda: not sessions(url, "INFO LIKE 'RENAME%%'"), "the server to end the killed session")
        blocker.rollback()
    shown = run_cli("status", "--db", url, "--project", project)
    assert (shown.returncode, shown.stderr) == (
        1,
        f"migrations/0002_evolve.sql:1:1: SC604 version 2 is partly applied on {url}: 0 of 11 statements ran, "
        "a run was interrupted before this one (hint: rerun apply: it resumes here)\n",
    )
    assert schemac.apply(project, url).current_version == 2
    assert snapshot(url)["tables"].keys() == {"customers", "invoices", "logs", "notes"}


def test_a_statement_still_running_when_its_client_is_killed_holds_the_lock_until_it_commits(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """The killed client's session goes on with its DDL and keeps the applier's lock (GET_LOCK) until
    it ends, so the rerun waits for the statement to commit, then finds that it ran and goes on."""
    slow = "ALTER TABLE big ADD COLUMN extra INT NOT NULL DEFAULT 7, ALGORITHM=COPY;\n"
    project = publish(
        tmp_path / "slow",
        {
            "0001_big.sql": "CREATE TABLE big (id INT NOT NULL PRIMARY KEY, pad CHAR(200) NOT NULL DEFAULT '');\n"
            "INSERT INTO big (id) SELECT seq FROM seq_1_to_200000;\n",
            "0002_slow.sql": slow + "CREATE TABLE after_it (id INT NOT NULL PRIMARY KEY);\n",
        },
    )
    url = database_factory("mariadb")
    schemac.apply(project, url, to=1)
    process = applier(project, url)
    wait_for(lambda: sessions(url, "INFO LIKE 'ALTER TABLE big%%' AND STATE LIKE 'copy%%'"), "the ALTER to copy rows")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sessions(url, "INFO LIKE 'ALTER TABLE big%%'")  # the server still runs it for the dead client
    assert schemac.apply(project, url).current_version == 2  # waited on the lock, then did not run it again
    assert not sessions(url, "INFO LIKE 'ALTER TABLE big%%'")
    with opened(url) as database:
        assert database.query("SELECT COUNT(*), MIN(extra) FROM big") == [(200000, 7)]
        assert database.query("SELECT version FROM schemac_history ORDER BY version") == [(1,), (2,)]
        assert database.query("SELECT COUNT(*) FROM schemac_progress") == [(0,)]
