"""apply, status and verify on real engines: history, checksums, failures, locks, crashes and progress."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemac
from conftest import ENGINES, case_project, opened, run_cli
from schemac.applier import AppliedMigration, Statement, split_statements
from schemac.applier.statements import _skip_comments
from schemac.dialects.base import Database
from schemac.dialects.connections import connect, parse_url
from schemac.dialects.sqlite import created_tables
from schemac.errors import SchemacError
from schemac.migrations.manifest import Manifest, parse_manifest, sha256_hex

THREE = Path(__file__).resolve().parent / "golden" / "three_dialects"
THIRD_SPEC = """description: Coupons.
tables:
  coupons:
    description: A discount code.
    audit: none
    columns:
      code: {type: string(20), primary_key: true}
"""


def built(engine: str, tmp_path: Path, *, third: bool = False) -> Path:
    """The three_dialects project (two versions, or three) built for ``engine``."""
    project = case_project(THREE, engine, tmp_path)
    if third:
        (project / "specs" / "0003_coupons.yaml").write_text(THIRD_SPEC, encoding="utf-8")
    schemac.build(project)
    return project


def history(url: str) -> list[tuple[int, str]]:
    with opened(url) as database:
        return [(int(v), n) for v, n in database.query("SELECT version, name FROM schemac_history ORDER BY version")]


def table_names(url: str) -> set[str]:
    with opened(url) as database:
        return set(database.tables())


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll until ``condition`` holds; a safety limit, not a timed assertion."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def applier(project: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "schemac", "apply", "--db", url, "--project", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_status_apply_to_dry_run_and_verify(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built(engine, tmp_path), database_factory(engine)
    if engine == "sqlite":  # status never creates a database: an empty one, like the servers' new ones
        sqlite3.connect(url).close()
    assert [e.state for e in schemac.status(project, url).entries] == ["pending", "pending"]

    dry = run_cli("apply", "--db", url, "--project", project, "--dry-run")
    assert (dry.returncode, dry.stderr) == (0, "")
    files = [f"migrations/{name}" for name in ("0001_catalog.sql", "0002_orders.sql")]
    previews = [
        f"-- version {v}: {file}\n{(project / file).read_text(encoding='utf-8')}\n" for v, file in enumerate(files, 1)
    ]
    assert dry.stdout == "".join(previews) + "-- 2 pending (dry run: nothing applied)\n"
    with opened(url) as database:
        assert not database.table_exists("schemac_history")

    first = run_cli("apply", "--db", url, "--project", project, "--to", "1")
    assert (first.returncode, first.stdout, first.stderr) == (0, f"1 applied; {url} is at version 1\n", "")
    shown = run_cli("status", "--db", url, "--project", project)
    assert shown.returncode == 0
    assert [line.split()[:3] for line in shown.stdout.splitlines()] == [
        ["applied", "1", "migrations/0001_catalog.sql"],
        ["pending", "2", "migrations/0002_orders.sql"],
    ]
    assert table_names(url) == {"products"}

    rest = schemac.apply(project, url)
    assert [(m.version, m.name) for m in rest.applied] == [(2, "orders")]
    assert rest.current_version == 2
    assert history(url) == [(1, "catalog"), (2, "orders")]
    with opened(url) as database:
        rows = database.query("SELECT checksum, execution_ms FROM schemac_history ORDER BY version")
    loaded = schemac.load_migrations(project / "migrations", engine)
    assert [r[0] for r in rows] == [m.checksum for m in loaded]
    assert all(int(r[1]) >= 0 for r in rows)

    checked = run_cli("verify", "--db", url, "--project", project)
    assert (checked.returncode, checked.stdout) == (0, f"{url} matches the specs at version 2\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_verify_lists_every_difference(engine: str, tmp_path: Path, database_factory: Callable[[str], str]) -> None:
    project, url = built(engine, tmp_path), database_factory(engine)
    schemac.apply(project, url)
    changes = {
        "sqlite": [
            "DROP INDEX idx_orders_status",
            "ALTER TABLE orders ADD COLUMN note TEXT",
            "CREATE TABLE stray (x INTEGER)",
        ],
        "postgresql": [
            "DROP INDEX idx_orders_status",
            "ALTER TABLE orders ADD COLUMN note text",
            "CREATE TABLE stray (x integer)",
            "ALTER TABLE orders ALTER COLUMN coupon SET NOT NULL",
            "ALTER TABLE order_lines DROP CONSTRAINT fk_order_lines_sku",
            "ALTER TABLE products DROP CONSTRAINT ck_products_title_not_blank",
        ],
        "mariadb": [
            "DROP INDEX idx_orders_status ON orders",
            "ALTER TABLE orders ADD COLUMN note TEXT",
            "CREATE TABLE stray (x INT)",
            "ALTER TABLE orders MODIFY coupon TEXT NOT NULL",
            "ALTER TABLE order_lines DROP FOREIGN KEY fk_order_lines_sku",
            "ALTER TABLE products DROP CONSTRAINT ck_products_title_not_blank",
        ],
    }[engine]
    with opened(url) as database:
        for sql in changes:
            database.execute(sql)
    result = schemac.verify(project, url)
    expected = [
        f"{url}:1:1: SC621 extra table 'stray': in the database, not in the specs",
        "specs/0002_orders.yaml:3:3: SC622 extra column 'orders.note': in the database, not in the specs",
        "specs/0002_orders.yaml:11:9: SC624 missing index 'idx_orders_status' on 'orders'",
    ]
    if engine != "sqlite":
        expected += [
            "specs/0001_catalog.yaml:30:21: SC626 missing check 'ck_products_title_not_blank' on 'products'",
            "specs/0002_orders.yaml:9:7: SC623 column 'orders.coupon' is NOT NULL, the specs give NULL",
            "specs/0002_orders.yaml:22:9: SC625 missing foreign key 'fk_order_lines_sku' on 'order_lines'",
        ]
    if engine == "mariadb":  # InnoDB keeps the index it made for the dropped foreign key
        expected.append(
            "specs/0002_orders.yaml:22:9: SC624 extra index 'fk_order_lines_sku' (sku) on 'order_lines': "
            "in the database, not in the specs"
        )
    assert sorted(str(d) for d in result.differences) == sorted(expected)
    outcome = run_cli("verify", "--db", url, "--project", project)
    assert outcome.returncode == 1
    assert outcome.stderr.splitlines() == [str(d) for d in result.differences]


@pytest.mark.parametrize("engine", ENGINES)
def test_apply_refuses_a_changed_or_unknown_version(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built(engine, tmp_path), database_factory(engine)
    schemac.apply(project, url)
    old = schemac.load_migrations(project / "migrations", engine)[-1].checksum
    spec = project / "specs" / "0002_orders.yaml"
    spec.write_text(spec.read_text().replace("composite keys", "compound keys"), encoding="utf-8")
    schemac.build(project, amend=True)
    outcome = run_cli("apply", "--db", url, "--project", project)
    assert outcome.returncode == 1
    assert outcome.stderr == (
        f"migrations/0002_orders.sql:1:1: SC602 changed: version 2 was applied to {url} with SHA-256 {old[:12]}…, "
        "the file now has another (hint: restore the file from version control; change the schema with a "
        "follow-up spec)\n"
    )
    assert [e.state for e in schemac.status(project, url).entries] == ["applied", "changed"]
    status = run_cli("status", "--db", url, "--project", project)
    assert (status.returncode, status.stderr) == (1, outcome.stderr)  # the same reason apply gave

    with opened(url) as database:
        database.execute(database.sql("UPDATE schemac_history SET version = ? WHERE version = ?"), (99, 2))
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, url)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"{url}:1:1: SC603 unknown: version 99 (orders) is applied but has no migration file "
        "(hint: update your checkout: the database was migrated by a newer set of files)"
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failing_migration_leaves_the_previous_version_and_a_rerun_completes(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built(engine, tmp_path), database_factory(engine)
    schemac.apply(project, url, to=1)
    drop = "DROP INDEX uq_products_sku" + (" ON products" if engine == "mariadb" else "")
    with opened(url) as database:
        database.execute(drop)  # order_lines' foreign key to products(sku) now has no unique key to use
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, url)
    [diagnostic] = caught.value.diagnostics
    sql = (project / "migrations" / "0002_orders.sql").read_text()
    line = next(s.line for s in split_statements(sql) if "order_lines" in s.sql.splitlines()[0])
    assert (diagnostic.file, diagnostic.line, diagnostic.code) == ("migrations/0002_orders.sql", line, "SC604")
    assert diagnostic.message.startswith(f"migration failed on {engine}: ")
    assert history(url) == [(1, "catalog")]
    # SQLite and PostgreSQL roll the whole file back; MariaDB keeps the DDL that ran and records how far it got.
    total = len(split_statements(sql))
    if engine == "mariadb":
        assert table_names(url) == {"products", "orders"}
        with opened(url) as database:
            assert database.query("SELECT version, statements FROM schemac_progress") == [(2, 2)]
        partial = schemac.status(project, url).entries[1]
        assert (partial.state, partial.statements_done, partial.statements) == ("partial", 2, total)
        shown = run_cli("status", "--db", url, "--project", project)
        assert (shown.returncode, shown.stdout.splitlines()[1]) == (
            1,
            f"partial       2  migrations/0002_orders.sql  2 of {total} statements ran",
        )
        assert shown.stderr == (
            f"migrations/0002_orders.sql:{line}:1: SC604 version 2 is partly applied on {url}: 2 of {total} "
            "statements ran, this one failed (hint: fix the cause, then rerun apply: it resumes here)\n"
        )
        listed = json.loads(run_cli("status", "--db", url, "--project", project, "--format", "json").stdout)
        assert listed[1] == {
            "version": 2,
            "name": "orders",
            "state": "partial",
            "applied_at": "",
            "statements_done": 2,
            "statements": total,
        }
    else:
        assert table_names(url) == {"products"}
        assert [e.state for e in schemac.status(project, url).entries] == ["applied", "pending"]
    with opened(url) as database:
        database.execute("CREATE UNIQUE INDEX uq_products_sku ON products (sku)")
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
    assert history(url) == [(1, "catalog"), (2, "orders")]
    assert schemac.verify(project, url).differences == ()


def republish(project: Path, file: str, text: str) -> None:
    """Replace a published migration and its manifest entry together, as a hand edit of both would."""
    migrations = project / "migrations"
    data = text.encode("utf-8")
    (migrations / file).write_bytes(data)
    manifest = parse_manifest((migrations / "manifest.json").read_bytes(), "manifest.json")
    entries = tuple(dataclasses.replace(e, sha256=sha256_hex(data)) if e.file == file else e for e in manifest.entries)
    (migrations / "manifest.json").write_text(Manifest(manifest.dialect, entries).to_text(), encoding="utf-8")


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_nul_character_in_a_pending_file_is_located_before_anything_runs(tmp_path: Path, dry_run: bool) -> None:
    project = built("sqlite", tmp_path)
    text = (project / "migrations" / "0002_orders.sql").read_text(encoding="utf-8")
    edited = text.replace("-- ", "-- café ", 1).replace("CREATE TABLE", "CREATE\0TABLE", 1)
    republish(project, "0002_orders.sql", edited)
    at = edited.index("\0")
    line, column = edited.count("\n", 0, at) + 1, at - edited.rfind("\n", 0, at)
    url = str(tmp_path / "app.db")
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, url, dry_run=dry_run)
    assert [str(d) for d in caught.value.diagnostics] == [
        f"migrations/0002_orders.sql:{line}:{column}: SC604 migration cannot run on sqlite: "
        "the file holds a NUL character (U+0000) (hint: remove it)"
    ]
    with sqlite3.connect(url) as connection:  # not even version 1 ran, nor were schemac's own tables made
        assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    connection.close()


def test_a_file_edited_after_a_partial_run_is_changed_and_apply_refuses_it(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """MariaDB keeps what a failed migration committed; a different file must not be run over it."""
    project, url = built("mariadb", tmp_path), database_factory("mariadb")
    schemac.apply(project, url, to=1)
    with opened(url) as database:
        database.execute("DROP INDEX uq_products_sku ON products")
    with pytest.raises(schemac.SchemacError):
        schemac.apply(project, url)  # fails after committing two statements of version 2
    text = (project / "migrations" / "0002_orders.sql").read_text(encoding="utf-8")
    committed = hashlib.sha256(text.encode("utf-8")).hexdigest()
    republish(project, "0002_orders.sql", text + "-- edited after the failed run\n")
    entry = schemac.status(project, url).entries[1]
    assert (entry.state, entry.statements_done) == ("changed", 2)
    expected = [
        f"migrations/0002_orders.sql:1:1: SC602 changed: 2 statements of version 2 ran on {parse_url(url).shown} "
        f"from a file with SHA-256 {committed[:12]}…, the file now has another "
        "(hint: restore the file from version control, then rerun apply to finish it)"
    ]
    shown = run_cli("status", "--db", url, "--project", project)
    assert (shown.returncode, shown.stderr.splitlines()) == (1, expected)
    for dry_run in (True, False):
        with pytest.raises(schemac.SchemacError) as caught:
            schemac.apply(project, url, dry_run=dry_run)
        assert [str(d) for d in caught.value.diagnostics] == expected
    assert history(url) == [(1, "catalog")]

    # A checkout without version 2: what ran of it is unknown, as an applied version with no file would be.
    (project / "migrations" / "0002_orders.sql").unlink()
    manifest = parse_manifest((project / "migrations" / "manifest.json").read_bytes(), "manifest.json")
    kept = Manifest(manifest.dialect, tuple(e for e in manifest.entries if e.version == 1))
    (project / "migrations" / "manifest.json").write_text(kept.to_text(), encoding="utf-8")
    result = schemac.status(project, url)
    assert [(e.version, e.state, e.statements_done) for e in result.entries] == [(1, "applied", 0), (2, "unknown", 2)]
    unknown = [
        f"{parse_url(url).shown}:1:1: SC603 unknown: version 2 is partly applied (2 statements ran) but has no "
        "migration file (hint: update your checkout: the database was migrated by a newer set of files)"
    ]
    assert [str(d) for d in result.findings] == unknown
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.apply(project, url)
    assert [str(d) for d in caught.value.diagnostics] == unknown


def test_sqlite_foreign_key_violations_fail_the_migration(tmp_path: Path) -> None:
    project = built("sqlite", tmp_path, third=True)
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=2)
    con = sqlite3.connect(url)  # foreign keys off by default: the bad row gets in
    con.execute(
        "INSERT INTO order_lines (order_id, line_no, sku, created_at, created_by) VALUES ('x', 1, 'nope', 't', 'me')"
    )
    con.commit()
    con.close()
    outcome = run_cli("apply", "--db", url, "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        "migrations/0003_coupons.sql:1:1: SC605 foreign key violations after this migration: "
        "row 1 of 'order_lines' references a missing row of 'products'; "
        "row 1 of 'order_lines' references a missing row of 'orders' (hint: fix the rows, then rerun apply)\n"
    )
    assert history(url) == [(1, "catalog"), (2, "orders")]
    assert "coupons" not in table_names(url)


@pytest.mark.parametrize("engine", ENGINES)
def test_eight_concurrent_appliers_apply_each_version_once(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built(engine, tmp_path, third=True), database_factory(engine)
    processes = [applier(project, url) for _ in range(8)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0] * 8, outputs
    counts = [int(out.split(" applied;")[0]) for out, _ in outputs]
    assert sum(counts) == 3
    assert history(url) == [(1, "catalog"), (2, "orders"), (3, "coupons")]
    assert schemac.verify(project, url).differences == ()


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_mid_migration_on_sqlite_leaves_the_previous_version(tmp_path: Path) -> None:
    project = built("sqlite", tmp_path)
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=1)
    reader = sqlite3.connect(url, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM products").fetchall()  # a shared lock: the applier cannot commit
    process = applier(project, url)
    wait_for(lambda: Path(url + "-journal").exists(), "the applier to start writing migration 2")
    _kill(process)
    reader.execute("ROLLBACK")
    reader.close()
    assert history(url) == [(1, "catalog")]
    assert table_names(url) == {"products"}
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
    assert schemac.verify(project, url).differences == ()


def test_sigkill_mid_migration_on_postgresql_leaves_the_previous_version(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built("postgresql", tmp_path), database_factory("postgresql")
    schemac.apply(project, url, to=1)
    import psycopg

    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")  # order_lines' foreign key waits for it
    process = applier(project, url)

    def waiting() -> bool:
        with psycopg.connect(url, autocommit=True) as watcher:
            row = watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'products'::regclass"
            ).fetchone()
            return bool(row and row[0])

    wait_for(waiting, "the applier to block inside migration 2")
    _kill(process)
    blocker.rollback()
    blocker.close()
    assert history(url) == [(1, "catalog")]
    assert table_names(url) == {"products"}  # orders was created in the killed transaction: gone
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
    assert schemac.verify(project, url).differences == ()


def test_sigkill_mid_migration_on_mariadb_resumes_after_the_last_recorded_statement(
    tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    """Killed waiting to record that it is about to run the first statement: nothing of version 2 ran."""
    project, url = built("mariadb", tmp_path), database_factory("mariadb")
    schemac.apply(project, url, to=1)
    blocker = connect(parse_url(url), 30)
    blocker.execute("LOCK TABLES schemac_progress READ")  # the applier's first progress record waits
    process = applier(project, url)

    def waiting() -> bool:
        with opened(url) as watcher:
            rows = watcher.query(
                "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
                "AND INFO LIKE 'REPLACE INTO schemac_progress%%' AND STATE LIKE 'Waiting%%'"
            )
            return bool(rows[0][0])

    wait_for(waiting, "the applier to block inside migration 2")
    _kill(process)
    blocker.execute("UNLOCK TABLES")
    blocker.close()
    assert history(url) == [(1, "catalog")]
    assert table_names(url) == {"products"}  # the progress row is written before the statement runs
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
    assert history(url) == [(1, "catalog"), (2, "orders")]
    assert schemac.verify(project, url).differences == ()
    with opened(url) as database:
        assert database.query("SELECT count(*) FROM schemac_progress") == [(0,)]


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 5)[0]:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode().replace("\r\n", "\n")


@pytest.mark.parametrize(("quiet", "expected"), [(False, True), (True, False)])
def test_progress_lines_only_on_a_terminal(tmp_path: Path, quiet: bool, expected: bool) -> None:
    project = built("sqlite", tmp_path)
    url = str(tmp_path / "app.db")
    primary, secondary = pty.openpty()
    args = [sys.executable, "-m", "schemac", "apply", "--db", url, "--project", str(project)]
    process = subprocess.Popen([*args, *(["--quiet"] if quiet else [])], stdout=secondary, stderr=subprocess.PIPE)
    os.close(secondary)
    shown = _read_all(primary)
    os.close(primary)
    assert process.wait() == 0
    lines = [line.split(" (")[0] for line in shown.splitlines()]
    progress = ["applied migrations/0001_catalog.sql", "applied migrations/0002_orders.sql"]
    assert lines == ([*progress, f"2 applied; {url} is at version 2"] if expected else [])
    other = tmp_path / "other.db"
    piped = run_cli("apply", "--db", other, "--project", project)
    assert piped.stdout == f"2 applied; {other} is at version 2\n"


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("ftp://host/db", "SC601", "unsupported database URL scheme 'ftp'"),
        ("sqlite://relative.db", "SC601", "a SQLite URL needs a path"),
        ("mariadb://root:secret@127.0.0.1:1/", "SC610", "the project builds no mariadb migrations (dialects: sqlite)"),
    ],
)
def test_bad_database_urls_are_located_errors(tmp_path: Path, url: str, code: str, message: str) -> None:
    project = built("sqlite", tmp_path)
    outcome = run_cli("apply", "--db", url, "--project", project)
    assert outcome.returncode == 2
    where = "schemac.toml" if code == "SC610" else url
    assert outcome.stderr.startswith(f"{where}:1:1: {code} {message}")


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_unreachable_server_is_sc606_with_the_password_hidden(engine: str, tmp_path: Path) -> None:
    project = case_project(THREE, engine, tmp_path)
    schemac.build(project)
    url = f"{'postgresql' if engine == 'postgresql' else 'mariadb'}://someone:secret@127.0.0.1:1/nothing"
    outcome = run_cli("status", "--db", url, "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr.startswith(f"{url.replace(':secret@', ':***@')}:1:1: SC606 cannot connect: ")
    assert "secret" not in outcome.stderr


def test_split_statements_respects_quotes_and_comments() -> None:
    text = (
        "-- header; with a semicolon\n"
        "/* block; comment */\n"
        "CREATE TABLE \"a;b\" (x TEXT DEFAULT 'x;y', `c;d` INT);\n"
        "\n"
        "INSERT INTO t VALUES ('it''s; fine');  -- trailing\n"
    )
    assert [(s.line, s.sql) for s in split_statements(text)] == [
        (3, "CREATE TABLE \"a;b\" (x TEXT DEFAULT 'x;y', `c;d` INT);"),
        (5, "INSERT INTO t VALUES ('it''s; fine');"),
    ]


def reference_split(text: str) -> list[tuple[int, str]]:
    """The splitter's defining behaviour, character by character: split at each ``;`` that completes a statement."""
    found, start = [], 0
    for at, char in enumerate(text):
        if char == ";" and sqlite3.complete_statement(text[start : at + 1]):
            body = _skip_comments(text, start, at)
            found.append((text.count("\n", 0, body) + 1, text[body : at + 1]))
            start = at + 1
    return found


SQL_PIECES = [
    *";'\"`[]-/*\n\t\r x\u00e91",
    *("--", "/*", "*/", "'a;b'", "-- c;\n", "/* c; */", "END;", "SELECT 1", "CREATE TABLE t (a)"),
    *("CREATE", "TRIGGER", "TEMP", "TEMPORARY", "EXPLAIN", "BEGIN", "END"),
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1;",
]
SQLISH = st.lists(st.sampled_from(SQL_PIECES), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(SQLISH)
def test_split_statements_splits_where_sqlite_says_a_statement_is_complete(text: str) -> None:
    assert [(s.line, s.sql) for s in split_statements(text)] == reference_split(text)


def test_split_statements_keeps_a_trigger_whole_and_counts_lines() -> None:
    text = (
        "CREATE TABLE t (a TEXT);\n"
        "-- a trigger; its body has statements\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  UPDATE t SET a = 'x;' WHERE a IS NULL;\n"
        "  SELECT 1; /* ; */\n"
        "END;\n"
        "\n"
        "/* unterminated; so nothing after splits;"
    )
    assert [(s.line, s.sql.split("\n")[0]) for s in split_statements(text)] == [
        (1, "CREATE TABLE t (a TEXT);"),
        (3, "CREATE TRIGGER tr AFTER INSERT ON t BEGIN"),
    ]
    assert split_statements(text) == [Statement(sql, line) for line, sql in reference_split(text)]


@pytest.mark.parametrize(
    ("statements", "created"),
    [
        (['CREATE TABLE IF NOT EXISTS "a""b" (x TEXT);', "create unique index if not exists u on t (x);"], ['a"b']),
        (["CREATE TABLE [a b](x);", "CREATE TABLE `c``d` (x);", "CREATE\n TABLE e\t(x);"], ["a b", "c`d", "e"]),
        (["CREATE INDEX i ON t (x);", "CREATE UNIQUE INDEX main.j ON t (x);"], []),
        ([], []),
        (["CREATE TABLE a AS SELECT * FROM b;"], None),
        (["CREATE TABLE a (x);", "INSERT INTO a VALUES (1);"], None),
        (["CREATE TEMP TABLE a (x);"], None),
        (["CREATE TABLE main.a (x);"], None),
        (['CREATE TABLE "main"."a" (x);'], None),
        (["CREATE /* note */ TABLE a (x);"], None),
        (["CREATE VIEW v AS SELECT 1;"], None),
        (["CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM u; END;"], None),
        (["DROP TABLE a;"], None),
        (['ALTER TABLE a RENAME TO "b";'], None),
    ],
)
def test_which_migrations_count_as_only_creating(statements: list[str], created: list[str] | None) -> None:
    assert created_tables(statements) == created


def migrate(database: Database, *statements: str) -> list[str]:
    """One migration as the applier runs it on SQLite; the check's findings (committed only when there are none)."""
    database.begin()
    for statement in statements:
        database.execute(statement)
    problems = database.integrity_problems(statements)
    if problems:
        database.rollback()
    else:
        database.commit()
    return problems


def test_sqlite_foreign_key_check_after_create_only_migrations(tmp_path: Path) -> None:
    url = str(tmp_path / "app.db")
    with opened(url) as database:
        assert migrate(database, "CREATE TABLE p (id INTEGER PRIMARY KEY, code TEXT)") == []
        other = sqlite3.connect(url)  # foreign keys off by default: a bad row gets in between two migrations
        other.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, p_id INTEGER REFERENCES p (id))")
        other.execute("INSERT INTO c VALUES (1, 7)")
        other.commit()
        assert migrate(database, "CREATE TABLE d (id INTEGER PRIMARY KEY)") == [
            "row 1 of 'c' references a missing row of 'p'"
        ]
        other.execute("DELETE FROM c")
        other.commit()
        assert migrate(database, "CREATE TABLE d (id INTEGER PRIMARY KEY)") == []
        # A table that named a parent before it existed: the parent, created without a unique key on
        # the referenced column, is a mismatch the check reports as an error, as a full check does.
        assert migrate(database, 'CREATE TABLE "e f" (id INTEGER PRIMARY KEY, g_code TEXT REFERENCES g (code))') == []
        with pytest.raises(sqlite3.OperationalError, match='foreign key mismatch - "e f" referencing "g"'):
            migrate(database, "CREATE TABLE IF NOT EXISTS d (id INTEGER PRIMARY KEY)", "CREATE TABLE g (code TEXT)")
        database.rollback()
        assert migrate(database, "CREATE TABLE g (code TEXT)", "CREATE UNIQUE INDEX g_code ON g (code)") == []
        # Rows a migration adds are checked, whatever else it creates.
        assert migrate(database, "CREATE TABLE h (x)", "INSERT INTO \"e f\" VALUES (1, 'nope')") == [
            "row 1 of 'e f' references a missing row of 'g'"
        ]
        assert migrate(database, "CREATE TABLE h AS SELECT 1 AS x", "INSERT INTO c VALUES (2, 8)") == [
            "row 2 of 'c' references a missing row of 'p'"
        ]
        other.close()
    with opened(url) as database:
        assert database.query("PRAGMA foreign_key_check") == []
        names = database.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        assert [name for (name,) in names] == ["c", "d", "e f", "g", "p"]


def test_a_violation_committed_during_a_run_fails_the_next_migration(tmp_path: Path) -> None:
    project = built("sqlite", tmp_path, third=True)
    url = str(tmp_path / "app.db")

    def meddle(done: AppliedMigration) -> None:
        if done.version == 2:
            con = sqlite3.connect(url)
            con.execute(
                "INSERT INTO order_lines (order_id, line_no, sku, created_at, created_by) "
                "VALUES ('x', 1, 'nope', 't', 'me')"
            )
            con.commit()
            con.close()

    with pytest.raises(SchemacError) as caught:
        schemac.apply(project, url, on_applied=meddle)
    assert [(d.file, d.code, d.message) for d in caught.value.diagnostics] == [
        (
            "migrations/0003_coupons.sql",
            "SC605",
            "foreign key violations after this migration: "
            "row 1 of 'order_lines' references a missing row of 'products'; "
            "row 1 of 'order_lines' references a missing row of 'orders'",
        )
    ]
    assert history(url) == [(1, "catalog"), (2, "orders")]


PARENTS = """description: Parents and children.
tables:
  parents:
    description: A parent.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      label: {type: text}
  children:
    description: A child.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      parent_id: {type: integer, references: parents.id, on_delete: cascade}
"""


def test_sqlite_rebuild_of_a_referenced_table_keeps_rows_and_keys(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_family.yaml").write_text(PARENTS, encoding="utf-8")
    (project / "specs" / "0002_optional_label.yaml").write_text(
        PARENTS.split("  children:")[0].replace("{type: text}", "{type: text, nullable: true}"), encoding="utf-8"
    )
    schemac.build(project)
    assert "rebuild" in (project / "migrations" / "0002_optional_label.sql").read_text().lower()
    url = str(tmp_path / "app.db")
    schemac.apply(project, url, to=1)
    con = sqlite3.connect(url)
    con.executescript("INSERT INTO parents VALUES (1, 'a'); INSERT INTO children VALUES (10, 1);")
    con.close()
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
    con = sqlite3.connect(url)
    assert con.execute("SELECT * FROM parents").fetchall() == [(1, "a")]
    assert con.execute("SELECT * FROM children").fetchall() == [(10, 1)]
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    assert [r[3] for r in con.execute("PRAGMA table_info(parents)")] == [1, 0]  # label now nullable
    con.close()
    assert schemac.verify(project, url).differences == ()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_held_lock_past_the_timeout_is_sc608(
    engine: str, tmp_path: Path, database_factory: Callable[[str], str]
) -> None:
    project, url = built(engine, tmp_path), database_factory(engine)
    schemac.apply(project, url, to=1)
    with opened(url) as holder:
        if engine == "sqlite":
            holder.begin()  # BEGIN IMMEDIATE: the write lock every SQLite applier needs
            held: Any = None
        else:
            held = holder.locked(30)
            held.__enter__()
        outcome = run_cli("apply", "--db", url, "--project", project, "--lock-timeout", "0.2")
        if held is not None:
            held.__exit__(None, None, None)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        f"{url}:1:1: SC608 another schemac apply held the migration lock for 0.2 s "
        "(hint: wait for it to finish, or raise --lock-timeout)\n"
    )
    assert history(url) == [(1, "catalog")]
    assert [m.version for m in schemac.apply(project, url).applied] == [2]
