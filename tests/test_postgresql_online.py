"""Lock-safe PostgreSQL migrations on a real server: the steps a file holds, and how ``apply`` runs them.

A version that changes a table with rows adds its constraints ``NOT VALID`` and validates them in a
second transaction, makes a column NOT NULL through a validated check, and builds and drops indexes
``CONCURRENTLY`` outside any transaction. ``apply`` resumes at the step a failed run left, rebuilds an
index a failed concurrent build left invalid, and tries a step again when it gave up waiting for a lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import schemac
from conftest import findings, opened
from schemac.applier import runner

ACCOUNTS = """description: Accounts.
tables:
  accounts:
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      email: {type: text}
      nickname: {type: text, nullable: true}
"""
UNIQUE_EMAIL = """description: One account per email; every account has a nickname.
tables:
  accounts:
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      email: {type: text, check: "email LIKE '%@%'"}
      nickname: {type: text, default: anonymous}
    indexes:
      - columns: [email]
        unique: true
"""
PLAN = """description: Accounts get a plan.
tables:
  accounts:
    audit: none
    columns:
      id: {type: bigint, primary_key: true}
      email: {type: text}
      nickname: {type: text, nullable: true}
      plan: {type: text, default: free}
"""


@pytest.fixture
def postgresql(database_factory: Callable[[str], str]) -> str:
    return database_factory("postgresql")


@pytest.fixture
def psycopg() -> Any:
    return pytest.importorskip("psycopg")


def project(make_project: Callable[..., Path], *specs: str, settings: str = "") -> Path:
    files = {f"000{number}_v{number}.yaml": text for number, text in enumerate(specs, 1)}
    return make_project(files, 'dialects = ["postgresql"]\n' + settings)


def with_rows(url: str, root: Path, *rows: str) -> None:
    """``root`` built and applied up to version 1, then ``rows`` (VALUES of accounts) inserted."""
    schemac.build(root)
    schemac.apply(root, url, to=1)
    with opened(url) as database:
        for row in rows:
            database.execute(f"INSERT INTO accounts (id, email, nickname) VALUES {row}")


def index_validity(url: str, name: str) -> list[bool]:
    with opened(url) as database:
        rows = database.query("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", (name,))
    return [row[0] for row in rows]


def test_a_version_runs_in_steps_and_makes_a_column_not_null_through_a_validated_check(
    make_project: Callable[..., Path], postgresql: str
) -> None:
    root = project(make_project, ACCOUNTS, UNIQUE_EMAIL)
    with_rows(postgresql, root, "(1, 'a@x', NULL)", "(2, 'b@x', 'bee')")
    text = (root / "migrations" / "0002_v2.sql").read_text()
    for statement in (
        "SET lock_timeout = '5s';\nSET statement_timeout = '1min';",
        'ALTER TABLE "accounts" ADD CONSTRAINT "ck_accounts_email" CHECK (email LIKE \'%@%\') NOT VALID;',
        "-- schemac:step transaction\n",
        'ALTER TABLE "accounts" VALIDATE CONSTRAINT "ck_accounts_email";',
        'ALTER TABLE "accounts" ALTER COLUMN "nickname" SET NOT NULL;',
        "-- schemac:step no-transaction\n",
        'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "uq_accounts_email" ON "accounts" ("email");',
    ):
        assert statement in text
    helper = text.split('ADD CONSTRAINT "', 2)[1].split('"')[0]
    assert helper.startswith("schemac_not_null_")
    assert 'CHECK ("nickname" IS NOT NULL) NOT VALID' in text

    assert [m.version for m in schemac.apply(root, postgresql).applied] == [2]
    with opened(postgresql) as database:
        assert database.query("SELECT id, nickname FROM accounts ORDER BY id") == [(1, "anonymous"), (2, "bee")]
        assert database.query(
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'nickname'"
        ) == [(True,)]
        checks = "SELECT conname FROM pg_constraint WHERE contype = 'c' AND conrelid = 'accounts'::regclass"
        constraints = [row[0] for row in database.query(checks)]
        assert sorted(constraints) == ["ck_accounts_email"]  # the temporary check is gone
        assert database.query("SELECT count(*) FROM schemac_progress") == [(0,)]
    assert index_validity(postgresql, "uq_accounts_email") == [True]
    assert schemac.verify(root, postgresql).differences == ()


def test_an_index_a_failed_concurrent_build_left_invalid_is_rebuilt(
    make_project: Callable[..., Path], postgresql: str, cli: Callable[..., Any]
) -> None:
    root = project(make_project, ACCOUNTS, UNIQUE_EMAIL)
    with_rows(postgresql, root, "(1, 'a@x', 'one')", "(2, 'a@x', 'two')")

    first = cli("apply", "--db", postgresql, "--project", root)
    assert first.returncode == 2, first.stderr
    assert first.stderr.strip().splitlines() == [
        "migrations/0002_v2.sql:31:1: SC604 migration failed on postgresql: could not create unique index "
        '"uq_accounts_email" DETAIL: Key (email)=(a@x) is duplicated. (hint: fix the cause; the steps before line 28 '
        "stay applied, and so may this step's statements before this one; rerun apply: it goes on from line 28)"
    ]
    assert index_validity(postgresql, "uq_accounts_email") == [False]
    status = schemac.status(root, postgresql)
    assert [(e.version, e.state) for e in status.entries] == [(1, "applied"), (2, "partial")]

    with opened(postgresql) as database:
        database.execute("UPDATE accounts SET email = 'b@x' WHERE id = 2")
    second = cli("apply", "--db", postgresql, "--project", root)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        'migrations/0002_v2.sql: rebuilt "uq_accounts_email", left invalid by a failed build',
        f"1 applied; {postgresql} is at version 2",
    ]
    assert index_validity(postgresql, "uq_accounts_email") == [True]
    assert schemac.verify(root, postgresql).differences == ()


@pytest.fixture
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "RETRY_PAUSE", 0.2)


@pytest.fixture
def holder(postgresql: str, psycopg: Any) -> Iterator[Callable[[float], threading.Thread]]:
    """``hold(seconds)``: another session holds ACCESS EXCLUSIVE on accounts for that long (from now on)."""
    threads: list[threading.Thread] = []
    locked = threading.Event()

    def hold(seconds: float) -> threading.Thread:
        def run() -> None:
            with psycopg.connect(postgresql) as connection:  # a transaction, open until the block ends
                connection.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
                locked.set()
                time.sleep(seconds)

        thread = threading.Thread(target=run)
        thread.start()
        threads.append(thread)
        assert locked.wait(10)
        return thread

    yield hold
    for thread in threads:
        thread.join()


def test_a_step_that_waits_for_a_lock_is_tried_again_and_reported(
    make_project: Callable[..., Path], postgresql: str, holder: Callable[[float], threading.Thread], short_pauses: None
) -> None:
    root = project(make_project, ACCOUNTS, PLAN)
    with_rows(postgresql, root, "(1, 'a@x', NULL)")
    holder(6.5)  # the first try gives up after lock_timeout (5 s); the second gets the lock once it is free
    result = schemac.apply(root, postgresql, lock_retries=2)
    assert [(m.version, m.lock_retries) for m in result.applied] == [(2, 1)]
    with opened(postgresql) as database:
        assert database.query("SELECT plan FROM accounts") == [("free",)]


def test_apply_says_when_it_tried_a_step_again(
    make_project: Callable[..., Path],
    postgresql: str,
    holder: Callable[[float], threading.Thread],
    cli: Callable[..., Any],
) -> None:
    root = project(make_project, ACCOUNTS, PLAN)
    with_rows(postgresql, root, "(1, 'a@x', NULL)")
    holder(6.5)  # gives up after 5 s, pauses 1 s, then waits for the lock's release
    applied = cli("apply", "--db", postgresql, "--project", root, "--lock-retries", "1")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        "migrations/0002_v2.sql: waited for a lock and tried again 1 time (lock_timeout)",
        f"1 applied; {postgresql} is at version 2",
    ]


def test_a_lock_held_past_every_try_fails_with_how_often_it_waited(
    make_project: Callable[..., Path], postgresql: str, holder: Callable[[float], threading.Thread], short_pauses: None
) -> None:
    root = project(make_project, ACCOUNTS, PLAN)
    with_rows(postgresql, root, "(1, 'a@x', NULL)")
    holder(14)
    assert findings(lambda: schemac.apply(root, postgresql, lock_retries=1)) == [
        "migrations/0002_v2.sql:8:1: SC630 gave up waiting for a lock on postgresql 2 times: canceling statement "
        "due to lock timeout (hint: find the transaction that holds the lock (pg_locks, pg_stat_activity); nothing "
        "of this version stays applied)"
    ]
    with opened(postgresql) as database:
        assert database.column_names("accounts") == ["id", "email", "nickname"]
    assert [(e.version, e.state) for e in schemac.status(root, postgresql).entries] == [(1, "applied"), (2, "pending")]


def test_online_false_writes_each_file_as_one_plain_transaction(make_project: Callable[..., Path]) -> None:
    online = project(make_project, ACCOUNTS, UNIQUE_EMAIL)
    plain = make_project(
        {"0001_v1.yaml": ACCOUNTS, "0002_v2.yaml": UNIQUE_EMAIL},
        'dialects = ["postgresql"]\n\n[postgresql]\nonline = false\n',
        name="plain",
    )
    schemac.build(online)
    schemac.build(plain)
    text = (plain / "migrations" / "0002_v2.sql").read_text()
    assert "schemac:step" not in text and "CONCURRENTLY" not in text and "NOT VALID" not in text
    assert "lock_timeout" not in text
    assert 'ALTER TABLE "accounts" ALTER COLUMN "nickname" SET NOT NULL;' in text
    assert (online / "migrations" / "0002_v2.sql").read_text() != text


def test_a_project_with_files_published_before_the_lock_safe_form_still_checks(
    make_project: Callable[..., Path], cli: Callable[..., Any]
) -> None:
    root = make_project(
        {"0001_v1.yaml": ACCOUNTS, "0002_v2.yaml": UNIQUE_EMAIL},
        'dialects = ["postgresql"]\n\n[postgresql]\nonline = false\n',
    )
    schemac.build(root)
    published = (root / "migrations" / "0002_v2.sql").read_bytes()
    (root / "schemac.toml").write_text('dialects = ["postgresql"]\n')  # the default: lock-safe
    checked = cli("check", "--project", root)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "migrations/0002_v2.sql:1:1: SC511 kept as published" in checked.stdout + checked.stderr
    (root / "specs" / "0003_v3.yaml").write_text(PLAN.replace("Accounts get", "At last, accounts get"))
    schemac.build(root)
    assert (root / "migrations" / "0002_v2.sql").read_bytes() == published
    assert "SET lock_timeout = '5s';" in (root / "migrations" / "0003_v3.sql").read_text()
    assert cli("check", "--project", root).returncode == 0


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("[postgresql]\nonline = 1\n", "schemac.toml:4:1: SC702 postgresql online must be true or false, not 1"),
        ("[postgresql]\nonlin = false\n", "schemac.toml:4:1: SC702 unknown postgresql setting 'onlin' (hint: the "
         "postgresql table takes: online)"),
        ("postgresql = 3\n", "schemac.toml:2:1: SC702 postgresql must be a table: [postgresql]"),
        ("[mariadb]\nonline = true\n[postgresql]\nonline = 1\n",
         "schemac.toml:6:1: SC702 postgresql online must be true or false, not 1"),
    ],
)  # fmt: skip
def test_a_bad_postgresql_setting_is_refused_at_its_line(
    make_project: Callable[..., Path], settings: str, expected: str
) -> None:
    text = 'dialects = ["postgresql"]\n' + ("\n" if settings.startswith("[") else "") + settings
    root = make_project({"0001_v1.yaml": ACCOUNTS}, text)
    assert findings(lambda: schemac.build(root)) == [expected]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("string(20)", "string(40)"),
        ("string(40)", "string(20)"),
        ("string(20)", "text"),
        ("decimal(10,2)", "decimal(12,2)"),
        ("decimal(10,2)", "decimal(12,3)"),
        ("smallint", "integer"),
        ("integer", "bigint"),
        ("real", "double"),
        ("text", "string(40)"),
    ],
)
def test_the_type_changes_lint_says_rewrite_are_those_postgresql_rewrites(
    make_project: Callable[..., Path], postgresql: str, before: str, after: str
) -> None:
    """SC910's facts (``Dialect.retype_copies_table``) against the server: a rewrite gives the table new storage."""
    from schemac.dialects import get
    from schemac.model import ColumnType

    table = (
        "description: T.\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: bigint, primary_key: true}\n"
    )
    changed = table.replace("description: T.", "description: T.\nallow_destructive: true")
    root = project(
        make_project, table + f'      v: {{type: "{before}"}}\n', changed + f'      v: {{type: "{after}"}}\n'
    )
    linted = [d for d in schemac.lint(root).findings if d.code == "SC910"]
    schemac.build(root)
    schemac.apply(root, postgresql, to=1)
    storage = "SELECT relfilenode FROM pg_class WHERE oid = 't'::regclass"
    with opened(postgresql) as database:
        database.execute("INSERT INTO t (id, v) VALUES (1, '7')")
        first = database.query(storage)
    schemac.apply(root, postgresql)
    with opened(postgresql) as database:
        rewritten = database.query(storage) != first
    assert get("postgresql").retype_copies_table(ColumnType.parse(before), ColumnType.parse(after)) == rewritten
    assert len(linted) == rewritten


def test_lint_names_each_type_change_that_rewrites_the_table(make_project: Callable[..., Path]) -> None:
    table = (
        "description: T.\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: bigint, primary_key: true}\n"
    )
    root = make_project(
        {
            "0001_v1.yaml": table + "      a: {type: integer}\n      b: {type: string(20)}\n",
            "0002_v2.yaml": table + "      a: {type: bigint}\n      b: {type: text}\n",
        },
        'dialects = ["postgresql", "mariadb"]\n',
    )
    found = [str(d) for d in schemac.lint(root).findings if d.code == "SC910"]
    hint = (
        " (hint: on a table that takes writes: add a column of the new type, fill it in batches, then switch to it "
        "in a later version; or apply at a quiet hour)"
    )
    assert found == [
        "specs/0002_v2.yaml:7:17: SC910 version 0002 changes 't.a' from integer to bigint, which copies every row of "
        "'t' on postgresql and mariadb, blocking writes to it until done" + hint,
        "specs/0002_v2.yaml:8:17: SC910 version 0002 changes 't.b' from string(20) to text, which copies every row "
        "of 't' on mariadb, blocking writes to it until done" + hint,
    ]
    schemac.build(root)  # once published, the change is no longer lint's to report
    assert [d for d in schemac.lint(root).findings if d.code == "SC910"] == []


def test_a_unique_index_a_new_key_references_is_built_with_the_changes(
    make_project: Callable[..., Path], postgresql: str
) -> None:
    """A foreign key needs its unique index when it is added: that index is not left to the concurrent step."""
    products = "description: P.\ntables:\n  products:\n    audit: none\n    columns:\n"
    products += "      id: {type: bigint, primary_key: true}\n      sku: {type: text"
    lines = "  order_lines:\n    audit: none\n    columns:\n      id: {type: bigint, primary_key: true}\n"
    lines += "      sku: {type: text, references: products.sku}\n"
    root = project(make_project, products + "}\n", products + ", unique: true}\n" + lines)
    with_rows_sql = "INSERT INTO products (id, sku) VALUES (1, 'a'), (2, 'b')"
    assert [str(d).split(" (hint:")[0] for d in schemac.lint(root).findings if d.code == "SC911"] == [
        "specs/0002_v2.yaml:7:12: SC911 on postgresql, create index uq_products_sku on products is built under a lock "
        "blocking writes to 'products', as a foreign key this version adds references it"
    ]
    schemac.build(root)
    schemac.apply(root, postgresql, to=1)
    with opened(postgresql) as database:
        database.execute(with_rows_sql)
    text = (root / "migrations" / "0002_v2.sql").read_text()
    assert 'CREATE UNIQUE INDEX IF NOT EXISTS "uq_products_sku" ON "products" ("sku");' in text
    assert "schemac:step no-transaction" not in text
    assert [m.version for m in schemac.apply(root, postgresql).applied] == [2]
    assert schemac.verify(root, postgresql).differences == ()


@pytest.mark.parametrize(
    ("column", "rewrites"),
    [
        ("{type: uuid, default: {fn: uuid}}", True),
        ("{type: text, default: fixed}", False),
        ("{type: timestamp, default: {fn: now}}", False),
    ],
)
def test_lint_names_each_added_column_postgresql_writes_row_by_row(
    make_project: Callable[..., Path], postgresql: str, column: str, rewrites: bool
) -> None:
    """SC911's facts against the server: a column added with a volatile default writes every row."""
    table = (
        "description: T.\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: bigint, primary_key: true}\n"
    )
    root = project(make_project, table, table + f"      added: {column}\n")
    linted = [str(d).split(" (hint:")[0] for d in schemac.lint(root).findings if d.code == "SC911"]
    schemac.build(root)
    schemac.apply(root, postgresql, to=1)
    storage = "SELECT relfilenode FROM pg_class WHERE oid = 't'::regclass"
    with opened(postgresql) as database:
        database.execute("INSERT INTO t (id) VALUES (1)")
        first = database.query(storage)
    schemac.apply(root, postgresql)
    with opened(postgresql) as database:
        assert (database.query(storage) != first) == rewrites
    expected = (
        "specs/0002_v2.yaml:7:14: SC911 on postgresql, add column t.added uuid gives a uuid to every row under a "
    )
    expected += "lock on 't'"
    assert linted == ([expected] if rewrites else [])


def test_lint_names_a_primary_key_change_of_a_table_that_exists(make_project: Callable[..., Path]) -> None:
    table = "description: T.\ntables:\n  t:\n    audit: none\n    columns:\n"
    table += "      a: {type: bigint}\n      b: {type: bigint}\n"
    root = make_project(
        {"0001_v1.yaml": table + "    primary_key: [a]\n", "0002_v2.yaml": table + "    primary_key: [a, b]\n"},
        'dialects = ["sqlite", "postgresql"]\n',
    )
    assert [str(d) for d in schemac.lint(root).findings if d.code == "SC911"] == [
        "specs/0002_v2.yaml:4:5: SC911 on postgresql, change primary key of t: (a) -> (a, b) builds its index under a "
        "lock on 't' (hint: on a table that takes writes: make the change at a quiet hour, or for a new key column "
        "add it nullable, fill it in batches, and make it the key in a later version; make a column unique a version "
        "before a foreign key references it)"
    ]
    (root / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n\n[postgresql]\nonline = false\n')
    assert [d for d in schemac.lint(root).findings if d.code == "SC911"] == []  # the plain form: blocking anyway


def test_a_step_marker_counts_only_between_two_statements(make_project: Callable[..., Path]) -> None:
    """A spec's description is quoted in the header, and an expression inside a statement: neither starts a step."""
    from schemac.applier.statements import split_statements, split_steps

    text = (
        "-- schemac:step no-transaction\n"
        "SET lock_timeout = '5s';\n"
        "ALTER TABLE t ADD CONSTRAINT c CHECK (a <> '\n-- schemac:step no-transaction\n') NOT VALID;\n"
        "\n-- schemac:step transaction\n-- why\nALTER TABLE t VALIDATE CONSTRAINT c;\n"
        "-- schemac:step no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (a);\n"
        "DROP INDEX CONCURRENTLY IF EXISTS j;\n"
    )
    steps = split_steps(text, split_statements(text))
    assert [(step.transaction, step.start, [s.line for s in step.statements]) for step in steps] == [
        (True, 0, [2, 3]),
        (True, 2, [9]),
        (False, 3, [11, 12]),
    ]
    root = project(make_project, ACCOUNTS.replace("description: Accounts.", "description: 'schemac:step transaction'"))
    schemac.build(root)
    text = (root / "migrations" / "0001_v1.sql").read_text()
    assert "-- schemac:step transaction\n" in text
    assert [step.transaction for step in split_steps(text, split_statements(text))] == [True]


def test_the_example_project_applies_version_by_version_and_verifies_clean(
    make_project: Callable[..., Path], postgresql: str
) -> None:
    from conftest import EXAMPLE

    specs = {path.name: path.read_text(encoding="utf-8") for path in sorted((EXAMPLE / "specs").glob("*.yaml"))}
    root = make_project(specs, 'dialects = ["postgresql"]\n')
    schemac.build(root)
    versions = [int(name.split("_", 1)[0]) for name in specs]
    for version in versions:
        assert [m.version for m in schemac.apply(root, postgresql, to=version).applied] == [version]
    assert schemac.verify(root, postgresql).differences == ()
    assert any("schemac:step" in path.read_text() for path in (root / "migrations").glob("*.sql"))


def test_a_progress_row_apply_cannot_have_written_is_refused(
    make_project: Callable[..., Path], postgresql: str
) -> None:
    root = project(make_project, ACCOUNTS, UNIQUE_EMAIL)
    with_rows(postgresql, root, "(1, 'a@x', 'one')", "(2, 'a@x', 'two')")
    assert findings(lambda: schemac.apply(root, postgresql))[0].startswith("migrations/0002_v2.sql:31:1: SC604 ")
    with opened(postgresql) as database:
        assert database.query("SELECT statements, state FROM schemac_progress") == [(12, "stopped")]
        database.execute("UPDATE schemac_progress SET state = 'running'")
    hint = (
        "check which statements of the version ran, then correct the row: UPDATE schemac_progress SET statements "
        "= <how many ran>, state = 'stopped' WHERE version = …"
    )
    assert findings(lambda: schemac.apply(root, postgresql)) == [
        f"{postgresql}:1:1: SC612 schemac_progress holds a row for version 2 where state is 'running', not 'stopped' "
        f"(hint: {hint})"
    ]
