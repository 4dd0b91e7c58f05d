"""Expressions judged for every configured dialect before anything is published: offline (PostgreSQL's
parser, the function table, boolean comparisons) and, with a dev database, by the engine itself."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import schemac
from conftest import findings
from schemac.dialects.functions import FUNCTIONS, near, one_letter_apart
from schemac.spec import dialect_expressions
from schemac.spec.dialect_expressions import _calls_scanned

FLAGS = """description: Flags.
tables:
  items:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      archived: {type: boolean, default: false}
      placed: {type: timestamp, default: {sql: nowz()}}
    indexes:
      - columns: [id]
        where: "archived = 0"
"""
"""The issue's two examples: a boolean compared with 0, and a function PostgreSQL does not have."""
FLAGS_FOUND = [
    (
        "specs/0001_flags.yaml:8:48: SC317 postgresql rejects default 'nowz()': function nowz() does not exist "
        "(hint: did you mean now()? A function of your own: call it with its schema, as in app.nowz())"
    ),
    (
        "specs/0001_flags.yaml:11:16: SC318 postgresql rejects partial index where 'archived = 0': operator does "
        "not exist: boolean = integer (hint: compare boolean column 'archived' with true or false, not 1 or 0: "
        "every engine reads those)"
    ),
]
VALID = """description: Valid everywhere.
tables:
  items:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      archived: {type: boolean, default: false}
      total: {type: integer, check: "total >= 0 AND abs(total) < 1000000"}
      note: {type: text, check: "length(trim(note)) > 0"}
      placed: {type: timestamp, default: {sql: CURRENT_TIMESTAMP}}
    indexes:
      - columns: [id]
        where: "archived = false AND coalesce(total, 0) > 0"
"""
TYPED = """description: Types only a server checks.
tables:
  items:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      n: {type: integer, check: "n > now()"}
      k: {type: integer, default: {sql: "now()"}}
      doc_json: {type: json, check: "length(doc_json) > 0"}
      r: {type: integer, check: "round(r, 1, 2) > 0"}
"""


def project(root: Path, dialects: str, specs: dict[str, str], extra: str = "") -> Path:
    (root / "specs").mkdir(parents=True)
    (root / "schemac.toml").write_text(f"dialects = [{dialects}]\n{extra}", encoding="utf-8")
    for name, text in specs.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    return root


def written(root: Path) -> list[str]:
    migrations = root / "migrations"
    return sorted(p.relative_to(root).as_posix() for p in migrations.rglob("*")) if migrations.exists() else []


@pytest.fixture(autouse=True)
def no_dev_databases(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own dev database variables never reach these tests."""
    monkeypatch.delenv("SCHEMAC_DEV_POSTGRESQL", raising=False)
    monkeypatch.delenv("SCHEMAC_DEV_MARIADB", raising=False)


# --- without a server ------------------------------------------------------------------------------


def test_the_issues_two_examples_fail_at_build_without_a_server(tmp_path: Path) -> None:
    root = project(tmp_path / "p", '"postgresql"', {"0001_flags.yaml": FLAGS})
    assert findings(lambda: schemac.build(root)) == FLAGS_FOUND
    assert written(root) == []


def test_the_same_spec_builds_where_booleans_are_numbers_but_nowz_is_still_refused(tmp_path: Path) -> None:
    root = project(tmp_path / "p", '"mariadb"', {"0001_flags.yaml": FLAGS})
    assert findings(lambda: schemac.build(root)) == [
        "specs/0001_flags.yaml:8:48: SC317 mariadb rejects default 'nowz()': function nowz() does not exist "
        "(hint: did you mean now()? A function of your own: call it with its schema, as in app.nowz())"
    ]
    flags = FLAGS.replace("{sql: nowz()}", "{sql: CURRENT_TIMESTAMP}")
    (root / "specs" / "0001_flags.yaml").write_text(flags, encoding="utf-8")
    assert schemac.build(root).written == ("migrations/0001_flags.sql", "migrations/manifest.json")


def test_valid_expressions_build_on_all_three_dialects(tmp_path: Path) -> None:
    root = project(tmp_path / "p", '"sqlite", "postgresql", "mariadb"', {"0001_valid.yaml": VALID})
    assert len(schemac.build(root).written) == 6


def test_a_function_of_another_engine_is_refused_and_a_schema_qualified_one_is_left_alone(tmp_path: Path) -> None:
    spec = VALID.replace("{sql: CURRENT_TIMESTAMP}", "{sql: gen_random_uuid()}").replace(
        "length(trim(note)) > 0", "app.is_note(note) AND strftime('%Y', placed) > '2000'"
    )
    root = project(tmp_path / "p", '"mariadb"', {"0001_valid.yaml": spec})
    assert findings(lambda: schemac.build(root)) == [
        (
            "specs/0001_valid.yaml:9:33: SC317 mariadb rejects check 'app.is_note(note) AND strftime('%Y', placed) > "
            "'2000'': function strftime() does not exist (hint: strftime() is built into sqlite only: use a function "
            "every configured dialect has)"
        ),
        (
            "specs/0001_valid.yaml:10:48: SC317 mariadb rejects default 'gen_random_uuid()': function "
            "gen_random_uuid() does not exist (hint: gen_random_uuid() is built into postgresql only: use a function "
            "every configured dialect has)"
        ),
    ]


def test_postgresql_parse_errors_are_located_and_name_the_character(tmp_path: Path) -> None:
    spec = VALID.replace("total >= 0 AND abs(total) < 1000000", "total >= 0 AND AND total < 3")
    root = project(tmp_path / "p", '"postgresql"', {"0001_valid.yaml": spec})
    assert findings(lambda: schemac.build(root)) == [
        "specs/0001_valid.yaml:8:37: SC316 postgresql cannot parse check 'total >= 0 AND AND total < 3': syntax error "
        'at or near "AND" (at character 16 of the expression) (hint: write SQL that every configured dialect reads)'
    ]
    assert written(root) == []


def test_a_published_spec_is_not_read_again_but_a_new_one_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file published before these rules existed stays buildable; only a follow-up spec can change it."""
    root = project(tmp_path / "p", '"postgresql"', {"0001_flags.yaml": FLAGS})
    with monkeypatch.context() as patched:
        patched.setattr(dialect_expressions, "check_tables", lambda *args: [])
        schemac.build(root)
    assert schemac.build(root, cache=False).written == ()
    assert schemac.check(root, cache=False).ok
    second = FLAGS.replace("items:", "others:").replace("nowz()", "CURRENT_TIMESTAMP")
    (root / "specs" / "0002_more.yaml").write_text(second, encoding="utf-8")
    assert findings(lambda: schemac.build(root, cache=False)) == [
        (
            "specs/0002_more.yaml:11:16: SC318 postgresql rejects partial index where 'archived = 0': operator does "
            "not exist: boolean = integer (hint: compare boolean column 'archived' with true or false, not 1 or 0: "
            "every engine reads those)"
        )
    ]


@pytest.mark.parametrize(
    ("expression", "operator"),
    [
        ("archived = 1", "boolean = integer"),
        ("archived <> 0", "boolean <> integer"),
        ("1 = items.archived", "integer = boolean"),
        ("archived IN (0, 1)", "boolean = integer"),
        ("NOT (archived != 0)", "boolean <> integer"),
        ("archived = 1.5", "boolean = numeric"),
        ("archived IN (true, 1)", "boolean = integer"),
    ],
)
def test_boolean_comparisons_with_numbers_are_refused_on_postgresql(
    tmp_path: Path, expression: str, operator: str
) -> None:
    spec = FLAGS.replace("nowz()", "now()").replace("archived = 0", expression)
    root = project(tmp_path / "p", '"postgresql"', {"0001_flags.yaml": spec})
    assert [f.split(": SC318 ")[1].split(" (hint")[0] for f in findings(lambda: schemac.build(root))] == [
        f"postgresql rejects partial index where '{expression}': operator does not exist: {operator}"
    ]


def test_the_function_table() -> None:
    assert near("postgresql", "nowz") == "now"
    assert near("postgresql", "btrim") is None  # a real function, listed: never taken for a typo of trim
    assert near("mariadb", "uuid4") == "uuid"
    assert near("postgresql", "frobnicate") is None  # unknown, but not near: left to the engine
    assert FUNCTIONS["gen_random_uuid"] == {"postgresql"}
    assert one_letter_apart("now", "own") is False and one_letter_apart("lower", "lwoer") is True
    assert _calls_scanned("CAST(x AS CHAR(3)) IN ('f(', `g`) AND app.h(1) OR NOT (a) AND Lower (b)") == ["lower"]


# --- settings --------------------------------------------------------------------------------------


def test_bad_dev_database_settings_are_located_and_never_show_a_password(tmp_path: Path) -> None:
    extra = '\n[dev_databases]\npostgresql = "mariadb://app:s3cret@db/app"\nmariadb = "ftp://db"\npostgress = 3\n'
    root = project(tmp_path / "p", '"postgresql"', {"0001_valid.yaml": VALID}, extra)
    found = findings(lambda: schemac.build(root))
    assert found == [
        (
            "schemac.toml:4:1: SC702 dev_databases.postgresql must be a postgresql:// URL, not "
            "mariadb://app:***@db/app (hint: for example postgresql://user@host:5432/dbname)"
        ),
        (
            "schemac.toml:5:1: SC702 dev_databases.mariadb must be a mariadb:// URL: unsupported database URL "
            "scheme 'ftp' (hint: use a file path, sqlite:///, postgresql://, mariadb://)"
        ),
        "schemac.toml:6:1: SC702 unknown dev database 'postgress' (hint: did you mean 'postgresql'?)",
    ]
    assert not any("s3cret" in line for line in found)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret@db.example.com/app",
        "postgresql://app@localhost/app?host=db.example.com",
        "postgresql://app@10.0.0.7:5432/app",
        "postgresql://app@127.0.0.1.attacker.example/app",  # a name, not the loopback address
        "postgresql://app@127.0.0.1:1,db.example.com:5432/app",  # libpq tries each host of a list
        "postgresql://app@127.evil.example/app",
    ],
)
def test_the_settings_file_names_only_a_dev_database_on_this_machine(tmp_path: Path, url: str) -> None:
    """The repository is not trusted: its settings cannot send CI's connection (and PGPASSWORD) elsewhere."""
    root = project(
        tmp_path / "p", '"postgresql"', {"0001_valid.yaml": VALID}, f'\n[dev_databases]\npostgresql = "{url}"\n'
    )
    shown = url.replace("s3cret", "***")
    assert findings(lambda: schemac.build(root)) == [
        f"schemac.toml:4:1: SC702 dev_databases.postgresql must name a server on this machine (localhost, "
        f"127.0.0.1, ::1 or a socket) and no parameters, not {shown}: the settings file comes with the repository "
        "(hint: for another server, set SCHEMAC_DEV_POSTGRESQL in the environment)"
    ]
    assert written(root) == []


# --- with a dev database ---------------------------------------------------------------------------


def test_with_a_postgresql_dev_database_the_engine_types_each_new_expression(
    tmp_path: Path, database_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_factory("postgresql")
    monkeypatch.setenv("SCHEMAC_DEV_POSTGRESQL", url)
    root = project(tmp_path / "p", '"postgresql"', {"0001_flags.yaml": FLAGS})
    assert findings(lambda: schemac.build(root)) == FLAGS_FOUND  # the offline rules speak first
    (root / "specs" / "0001_flags.yaml").write_text(TYPED, encoding="utf-8")
    assert findings(lambda: schemac.build(root)) == [
        (
            "specs/0001_flags.yaml:7:33: SC319 postgresql rejects check 'n > now()': operator does not exist: "
            "integer > timestamp with time zone (hint: the verdict of the postgresql dev database: change the "
            "expression so that postgresql takes it)"
        ),
        (
            "specs/0001_flags.yaml:8:41: SC319 postgresql rejects default 'now()': column \"k\" is of type integer "
            "but default expression is of type timestamp with time zone (hint: the verdict of the postgresql dev "
            "database: change the expression so that postgresql takes it)"
        ),
        (
            "specs/0001_flags.yaml:9:37: SC319 postgresql rejects check 'length(doc_json) > 0': function "
            "length(jsonb) does not exist (hint: the verdict of the postgresql dev database: change the expression "
            "so that postgresql takes it)"
        ),
        (
            "specs/0001_flags.yaml:10:33: SC319 postgresql rejects check 'round(r, 1, 2) > 0': function "
            "round(integer, integer, integer) does not exist (hint: the verdict of the postgresql dev database: "
            "change the expression so that postgresql takes it)"
        ),
    ]
    assert written(root) == []
    assert _tables(url) == []


def test_the_dev_database_itself_gives_the_issues_two_examples(
    tmp_path: Path, database_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Had the offline rules missed them, PostgreSQL says the same, at the same place."""
    url = database_factory("postgresql")
    monkeypatch.setenv("SCHEMAC_DEV_POSTGRESQL", url)
    monkeypatch.setattr(dialect_expressions, "check_tables", lambda *args: [])
    root = project(tmp_path / "p", '"postgresql"', {"0001_flags.yaml": FLAGS})
    hint = "(hint: the verdict of the postgresql dev database: change the expression so that postgresql takes it)"
    assert findings(lambda: schemac.build(root)) == [
        f"specs/0001_flags.yaml:8:48: SC319 postgresql rejects default 'nowz()': function nowz() does not exist {hint}",
        (
            "specs/0001_flags.yaml:11:16: SC319 postgresql rejects partial index where 'archived = 0': operator does "
            f"not exist: boolean = integer {hint}"
        ),
    ]
    assert written(root) == []


def test_a_published_version_is_not_sent_to_the_dev_database(
    tmp_path: Path, database_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path / "p", '"postgresql"', {"0001_typed.yaml": TYPED})
    schemac.build(root)  # no dev database: published as it is
    monkeypatch.setenv("SCHEMAC_DEV_POSTGRESQL", database_factory("postgresql"))
    (root / "specs" / "0002_valid.yaml").write_text(VALID.replace("items:", "others:"), encoding="utf-8")
    assert schemac.build(root).written == ("migrations/0002_valid.sql", "migrations/manifest.json")
    (root / "specs" / "0003_typed.yaml").write_text(TYPED.replace("items:", "more:"), encoding="utf-8")
    assert [f.split(" SC319 ")[0] for f in findings(lambda: schemac.build(root))] == [
        "specs/0003_typed.yaml:7:33:",
        "specs/0003_typed.yaml:8:41:",
        "specs/0003_typed.yaml:9:37:",
        "specs/0003_typed.yaml:10:33:",
    ]


def test_with_a_mariadb_dev_database_from_the_settings(
    tmp_path: Path, database_factory: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_factory("mariadb")
    local = (urlsplit(url).hostname or "localhost") in ("localhost", "127.0.0.1", "::1")
    if not local:  # a test server elsewhere: only the environment may name it
        monkeypatch.setenv("SCHEMAC_DEV_MARIADB", url)
    extra = f'\n[dev_databases]\nmariadb = "{url}"\n' if local else ""
    root = project(tmp_path / "p", '"mariadb"', {"0001_typed.yaml": TYPED}, extra)
    hint = "(hint: the verdict of the mariadb dev database: change the expression so that mariadb takes it)"
    assert findings(lambda: schemac.build(root)) == [
        (
            "specs/0001_typed.yaml:7:33: SC319 mariadb rejects check 'n > now()': Function or expression "
            f"'current_timestamp()' cannot be used in the CHECK clause of `CONSTRAINT_1` {hint}"
        ),
        (
            "specs/0001_typed.yaml:10:33: SC319 mariadb rejects check 'round(r, 1, 2) > 0': Incorrect parameter "
            f"count in the call to native function 'round' {hint}"
        ),
    ]
    assert written(root) == []
    assert _tables(url) == []
    (root / "specs" / "0001_typed.yaml").write_text(VALID, encoding="utf-8")
    assert schemac.build(root).written == ("migrations/0001_typed.sql", "migrations/manifest.json")
    assert _tables(url) == []


def test_an_unreachable_dev_database_is_a_clear_error_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMAC_DEV_POSTGRESQL", "postgresql://app:s3cret@127.0.0.1:1/app")
    root = project(tmp_path / "p", '"postgresql"', {"0001_valid.yaml": VALID})
    found = findings(lambda: schemac.build(root))
    assert len(found) == 1
    assert found[0].startswith(
        "postgresql://app:***@127.0.0.1:1/app:1:1: SC606 cannot connect to the postgresql dev database: "
    )
    assert found[0].endswith(
        "(hint: check the server and the URL (SCHEMAC_DEV_POSTGRESQL, or dev_databases.postgresql in the settings))"
    )
    assert "s3cret" not in found[0]
    assert written(root) == []


def test_a_dev_database_of_the_wrong_engine_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMAC_DEV_MARIADB", "postgresql://app:s3cret@db/app")
    root = project(tmp_path / "p", '"mariadb"', {"0001_valid.yaml": VALID})
    assert findings(lambda: schemac.build(root)) == [
        "postgresql://app:***@db/app:1:1: SC601 SCHEMAC_DEV_MARIADB must be a mariadb:// URL, not a postgresql one "
        "(hint: for example mariadb://user@host:3306/dbname)"
    ]


def _tables(url: str) -> list[str]:
    """The tables a dev database holds (none: a check keeps nothing)."""
    from schemac.dialects.connections import connect, parse_url

    database = connect(parse_url(url), 10)
    try:
        if database.dialect == "postgresql":
            rows = database.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        else:
            rows = database.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
        return sorted(str(row[0]) for row in rows)
    finally:
        database.close()


def test_the_function_table_is_true_of_the_real_engines(database_factory: Callable[[str], str]) -> None:
    """Each row's engines hold on SQLite, PostgreSQL and MariaDB, and every PostgreSQL built-in one letter
    away from a common function is listed, so :func:`near` never takes a real function for a typo."""
    import sqlite3

    from schemac.dialects.connections import connect, parse_url
    from schemac.dialects.functions import _COMMON

    in_sqlite = {str(row[0]) for row in sqlite3.connect(":memory:").execute("PRAGMA function_list")}
    assert sorted(n for n, e in FUNCTIONS.items() if "sqlite" not in e and n in in_sqlite) == []
    if sqlite3.sqlite_version_info >= (3, 40):  # the version the table was checked on (format(), unixepoch() …)
        assert sorted(n for n, e in FUNCTIONS.items() if "sqlite" in e and n not in in_sqlite) == []

    postgresql = connect(parse_url(database_factory("postgresql")), 10)
    try:
        built_in = {
            str(row[0])
            for row in postgresql.query(
                "SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'pg_catalog'"
            )
        }
    finally:
        postgresql.close()
    syntax = {"coalesce", "nullif", "greatest", "least", "trim"}  # PostgreSQL parses these itself
    assert sorted(n for n, e in FUNCTIONS.items() if ("postgresql" in e) != (n in built_in | syntax)) == []
    unlisted = {n for n in built_in if n not in FUNCTIONS and len(n) >= 3}
    assert (
        sorted(
            (name, common)
            for common in _COMMON
            if "postgresql" in FUNCTIONS[common]
            for name in unlisted
            if one_letter_apart(common, name)
        )
        == []
    )
    mariadb = connect(parse_url(database_factory("mariadb")), 10)
    try:
        wrong = []
        for name, engines in sorted(FUNCTIONS.items()):
            try:
                mariadb.execute(f"SELECT {name}()")
                number = 0
            except mariadb.driver_error as exc:
                number = exc.args[0]
            missing = number in (1305, 1630)  # no such function; 1064: a syntax of its own, or none
            if ("mariadb" in engines and missing) or ("mariadb" not in engines and number not in (1305, 1630, 1064)):
                wrong.append((name, number))
        assert wrong == []
    finally:
        mariadb.close()


def test_a_dev_database_that_never_answers_is_sc606_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port on this machine that takes the connection and says nothing (not a MariaDB server): the wait
    for its greeting is bounded, and build reports it."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    threading.Thread(target=lambda: held.append(listener.accept()[0]), daemon=True).start()
    port = listener.getsockname()[1]
    monkeypatch.setenv("SCHEMAC_DEV_MARIADB", f"mariadb://root@127.0.0.1:{port}/db")
    root = project(tmp_path / "p", '"mariadb"', {"0001_valid.yaml": VALID})
    try:
        found = findings(lambda: schemac.build(root))
    finally:
        for connection in held:
            connection.close()
        listener.close()
    assert len(found) == 1 and found[0].startswith(f"mariadb://root@127.0.0.1:{port}/db:1:1: SC606 cannot connect")
    assert written(root) == []
