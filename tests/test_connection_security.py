"""``--db`` and friends: no password in any output, bad URLs and values as located or usage errors, never
internal ones; status and verify never create a SQLite database; GitHub annotations carry no control character."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

import schemac
from conftest import MARIADB_URL, PG_URL, run_cli
from schemac.cli import github_annotation
from schemac.errors import Diagnostic

THREE = Path(__file__).resolve().parent / "golden" / "three_dialects"
FORMATS = ("text", "json", "github")
ENCODE_HINT = "percent-encode '@', '/', '?', '#' and '%' in the user name and password (%40, %2F, %3F, %23, %25)"
UNCLEAR = f"SC601 the URL has an '@' after its host, so where its password ends is unclear (hint: {ENCODE_HINT})"
BAD_PERCENT = f"SC601 a '%' in the URL starts no %XX escape (hint: {ENCODE_HINT})"
REFUSED = "SC606 cannot connect: "


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The three_dialects project, built for all three engines."""
    root = tmp_path / "project"
    shutil.copytree(THREE / "specs", root / "specs")
    shutil.copy(THREE / "schemac.toml", root / "schemac.toml")
    schemac.build(root)
    return root


def assert_hidden(secrets: list[str], *args: str | Path, cwd: Path | None = None) -> dict[str, tuple[int, str, str]]:
    """Run the command in every format, none printing any of ``secrets``: (exit code, stdout, stderr) by format."""
    outcomes = {}
    for fmt in FORMATS:
        outcome = run_cli(*args, "--format", fmt, cwd=cwd)
        for secret in secrets:
            assert secret not in outcome.stdout + outcome.stderr, (fmt, outcome.stdout, outcome.stderr)
        assert "internal error" not in outcome.stderr
        outcomes[fmt] = (outcome.returncode, outcome.stdout, outcome.stderr)
    return outcomes


def assert_reported(outcomes: dict[str, tuple[int, str, str]], shown: str, diagnostic: str) -> None:
    """Exit 2 in every format with one finding at ``shown``; text gives the line exactly, or its start
    when ``diagnostic`` ends with ``": "`` (an engine's own words follow)."""
    code, message = diagnostic.split(" ", 1)
    assert {fmt: outcome[0] for fmt, outcome in outcomes.items()} == dict.fromkeys(FORMATS, 2)
    text = outcomes["text"][2]
    if diagnostic.endswith(": "):
        assert text.startswith(f"{shown}:1:1: {diagnostic}")
    else:
        assert text == f"{shown}:1:1: {diagnostic}\n"
    (found,) = json.loads(outcomes["json"][1])
    assert (found["file"], found["code"]) == (shown, code)
    assert found["message"].startswith(message.split(" (hint: ")[0])
    file = shown.replace("%", "%25").replace(":", "%3A").replace(",", "%2C")
    assert outcomes["github"][1].startswith(f"::error file={file},line=1,col=1,title={code}::{code} ")


# (URL, what it must show, the finding); every password is made of LEAK1 and LEAK2.
LEAKS = [
    pytest.param(
        "postgresql://127.0.0.1:1/nothing?sslmode=disable&password=Leak1%2FLeak2",
        "postgresql://127.0.0.1:1/nothing?sslmode=disable&password=***",
        REFUSED,
        id="query-password",
    ),
    pytest.param(
        "postgresql://someone:Leak1%zzLeak2@127.0.0.1:1/nothing",
        "postgresql://someone:***@127.0.0.1:1/nothing",
        BAD_PERCENT,
        id="bad-percent-escape",
    ),
    pytest.param(
        "postgresql://127.0.0.1:1/nothing?password=Leak1%zzLeak2",
        "postgresql://127.0.0.1:1/nothing?password=***",
        BAD_PERCENT,
        id="bad-percent-escape-in-query",
    ),
    pytest.param(
        "postgresql://someone:Leak1/Leak2@127.0.0.1:1/nothing",
        "postgresql://someone:***@127.0.0.1:1/nothing",
        UNCLEAR,
        id="unencoded-slash",
    ),
    pytest.param(
        "postgresql://someone:Leak1?Leak2@127.0.0.1:1/nothing",
        "postgresql://someone:***@127.0.0.1:1/nothing",
        UNCLEAR,
        id="unencoded-question-mark",
    ),
    pytest.param(
        "postgresql://someone:Leak1#Leak2@127.0.0.1:1/nothing",
        "postgresql://someone:***@127.0.0.1:1/nothing",
        UNCLEAR,
        id="unencoded-hash",
    ),
    pytest.param(
        "postgresql://someone:Leak1@Leak2@127.0.0.1:1/nothing",
        "postgresql://someone:***@127.0.0.1:1/nothing",
        REFUSED,
        id="unencoded-at",
    ),
    pytest.param(
        "postgresql://someone:Leak1Leak2@[::1/nothing",
        "postgresql://someone:***@[::1/nothing",
        'SC606 cannot connect: end of string reached when looking for matching "]" in IPv6 host address in URI: '
        '"postgresql://[::1/nothing"',
        id="postgresql-ipv6-bracket",
    ),
    pytest.param(
        "mariadb://someone:Leak1/Leak2@127.0.0.1:1/nothing",
        "mariadb://someone:***@127.0.0.1:1/nothing",
        UNCLEAR,
        id="mariadb-unencoded-slash",
    ),
    pytest.param(
        "mysql://someone:Leak1%Leak2@127.0.0.1:1/nothing",
        "mysql://someone:***@127.0.0.1:1/nothing",
        BAD_PERCENT,
        id="mariadb-bad-percent-escape",
    ),
    pytest.param(
        "mariadb://someone:Leak1Leak2@127.0.0.1:99999/nothing",
        "mariadb://someone:***@127.0.0.1:99999/nothing",
        "SC601 host and port '127.0.0.1:99999' are not valid: Port out of range 0-65535 "
        "(hint: host:port with a port up to 65535; IPv6 as [::1])",
        id="mariadb-port-out-of-range",
    ),
    pytest.param(
        "mariadb://someone:Leak1Leak2@[::1/nothing",
        "mariadb://someone:***@[::1/nothing",
        "SC601 host and port '[::1' are not valid: Invalid IPv6 URL (hint: host:port with a port up to 65535; IPv6 as "
        "[::1])",
        id="mariadb-ipv6-bracket",
    ),
    pytest.param(
        "ftp://someone:Leak1/Leak2@host/nothing",
        "ftp://someone:***@host/nothing",
        "SC601 unsupported database URL scheme 'ftp' (hint: use a file path, sqlite:///, postgresql://, mariadb://)",
        id="unknown-scheme",
    ),
]
MISSING = "(hint: check the path: only 'schemac apply' creates one)"
# Without a scheme --db is a SQLite path: one that looks like credentials is masked all the same.
PATH_LEAKS = [
    pytest.param(
        command,
        "someone:Leak1Leak2@host/nothing",
        "someone:***@host/nothing",
        f"SC606 database file 'someone:***@host/nothing' does not exist {MISSING}",
        id=f"{command}-no-scheme",
    )
    for command in ("status", "verify")
]
PATH_LEAKS += [
    pytest.param(
        "status",
        "host=127.0.0.1 password=Leak1Leak2 dbname=nothing",
        "host=127.0.0.1 password=***",
        f"SC606 database file 'host=127.0.0.1 password=***' does not exist {MISSING}",
        id="status-libpq-string",
    ),
    pytest.param(
        "apply",
        "someone:Leak1Leak2@host/nothing",
        "someone:***@host/nothing",
        "SC606 directory 'someone:***@host' does not exist",
        id="apply-no-scheme",
    ),
]


@pytest.mark.parametrize(
    ("command", "url", "shown", "diagnostic"),
    [
        *[
            pytest.param(command, *leak.values, id=f"{command}-{leak.id}")
            for command in ("status", "verify", "apply")
            for leak in LEAKS
        ],
        *PATH_LEAKS,
    ],
)
def test_no_form_of_password_is_ever_printed(
    project: Path, command: str, url: str, shown: str, diagnostic: str
) -> None:
    before = sorted(project.iterdir())
    outcomes = assert_hidden(["Leak1", "Leak2"], command, "--db", url, cwd=project)
    assert_reported(outcomes, shown, diagnostic)
    assert sorted(project.iterdir()) == before  # no database was made


def test_the_database_url_comes_from_schemac_db_and_db_wins(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied = tmp_path / "app.db"
    assert run_cli("apply", "--db", applied, "--project", project).returncode == 0
    monkeypatch.setenv("SCHEMAC_DB", str(applied))
    outcome = run_cli("status", "--project", project)
    assert (outcome.returncode, outcome.stdout.split()[:3]) == (
        0,
        ["applied", "1", "migrations/sqlite/0001_catalog.sql"],
    )
    assert run_cli("verify", "--project", project).stdout == f"{applied} matches the specs at version 2\n"
    other = tmp_path / "other.db"
    outcome = run_cli("apply", "--db", other, "--project", project)  # --db wins over SCHEMAC_DB
    assert outcome.stdout == f"2 applied; {other} is at version 2\n"

    monkeypatch.setenv("SCHEMAC_DB", "postgresql://someone:Leak1/Leak2@127.0.0.1:1/nothing")
    outcomes = assert_hidden(["Leak1", "Leak2"], "status", "--project", project)
    assert_reported(outcomes, "postgresql://someone:***@127.0.0.1:1/nothing", UNCLEAR)


@pytest.fixture
def postgresql_role(database_factory: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    """(database URL, role, password): a real role whose password holds every character a URL reserves."""
    psycopg = pytest.importorskip("psycopg")
    url = database_factory("postgresql")
    role, password = f"schemac_t_{uuid.uuid4().hex[:12]}", "Leak1/?#%@:Leak2"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        yield url, role, password
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def _with_credentials(url: str, userinfo: str, database: str | None = None) -> str:
    parts = urlsplit(url)
    path = parts.path if database is None else f"/{database}"
    return urlunsplit((parts.scheme, f"{userinfo}@{parts.hostname}:{parts.port}", path, "", ""))


def test_a_real_postgresql_role_with_a_reserved_character_password(
    project: Path, postgresql_role: tuple[str, str, str]
) -> None:
    url, role, password = postgresql_role
    secrets = ["Leak1", "Leak2", quote(password, safe="")]
    encoded = _with_credentials(url, f"{role}:{quote(password, safe='')}")
    outcome = run_cli("status", "--db", encoded, "--project", project)
    assert (outcome.returncode, outcome.stdout.split()[:2], outcome.stderr) == (0, ["pending", "1"], "")

    missing = _with_credentials(url, f"{role}:{quote(password, safe='')}", "schemac_t_missing")
    outcomes = assert_hidden(secrets, "status", "--db", missing, "--project", project)
    shown = _with_credentials(url, f"{role}:***", "schemac_t_missing")
    assert_reported(outcomes, shown, REFUSED)
    assert 'database "schemac_t_missing" does not exist' in outcomes["text"][2]

    raw = _with_credentials(url, f"{role}:{password}")
    outcomes = assert_hidden(secrets, "apply", "--db", raw, "--project", project)
    assert_reported(outcomes, _with_credentials(url, f"{role}:***"), UNCLEAR)


@pytest.fixture
def mariadb_user(database_factory: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    """(database URL, user, password): a real MariaDB user whose password holds every character a URL reserves."""
    pymysql = pytest.importorskip("pymysql")
    url = database_factory("mariadb")
    user, password = f"schemac_t_{uuid.uuid4().hex[:12]}", "Leak1/?#%@:Leak2"
    parts = urlsplit(MARIADB_URL)

    def admin(*statements: str) -> None:
        connection = pymysql.connect(
            host=parts.hostname, port=parts.port or 3306, user=parts.username or "", password=parts.password or ""
        )
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
        connection.close()

    admin(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT ALL ON `{urlsplit(url).path[1:]}`.* TO '{user}'@'%'",
    )
    try:
        yield url, user, password
    finally:
        admin(f"DROP USER IF EXISTS '{user}'@'%'")


def test_a_real_mariadb_user_with_a_reserved_character_password(
    project: Path, mariadb_user: tuple[str, str, str]
) -> None:
    url, user, password = mariadb_user
    secrets = ["Leak1", "Leak2", quote(password, safe="")]
    encoded = _with_credentials(url, f"{user}:{quote(password, safe='')}")
    outcome = run_cli("apply", "--db", encoded, "--project", project)
    assert (outcome.returncode, outcome.stderr) == (0, "")

    wrong = _with_credentials(url, f"{user}:{quote(password[::-1], safe='')}")
    outcomes = assert_hidden([*secrets, "2kaeL", "1kaeL"], "status", "--db", wrong, "--project", project)
    assert_reported(outcomes, _with_credentials(url, f"{user}:***"), REFUSED)
    assert f"Access denied for user '{user}'" in outcomes["text"][2]

    raw = _with_credentials(url, f"{user}:{password}")
    outcomes = assert_hidden(secrets, "verify", "--db", raw, "--project", project)
    assert_reported(outcomes, _with_credentials(url, f"{user}:***"), UNCLEAR)


@pytest.mark.parametrize(
    ("url", "shown", "diagnostic"),
    [
        ("", "--db", "SC601 the database URL is empty (hint: give a SQLite path or a URL with --db or SCHEMAC_DB)"),
        (
            "sqlite:///",
            "sqlite:///",
            "SC601 a SQLite URL needs a path (hint: sqlite:///relative.db or sqlite:////absolute.db)",
        ),
        (
            "sqlite:app.db",
            "sqlite:app.db",
            "SC601 a database URL needs '//' after 'sqlite:' (hint: sqlite:///relative.db or sqlite:////absolute.db)",
        ),
        (
            "postgres:app",
            "postgres:app",
            "SC601 a database URL needs '//' after 'postgres:' (hint: postgresql://user@host:5432/dbname)",
        ),
    ],
)
def test_malformed_urls_are_located_errors(project: Path, url: str, shown: str, diagnostic: str) -> None:
    before = sorted(project.iterdir())
    outcome = run_cli("apply", "--db", url, cwd=project)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (2, "", f"{shown}:1:1: {diagnostic}\n")
    assert sorted(project.iterdir()) == before


@pytest.mark.parametrize("command", ["status", "verify"])
@pytest.mark.parametrize("form", ["{path}", "sqlite:///{path}"])
def test_status_and_verify_never_create_a_sqlite_database(project: Path, command: str, form: str) -> None:
    url = form.format(path="mistyped.db")
    outcome = run_cli(command, "--db", url, "--project", project, cwd=project)
    assert (outcome.returncode, outcome.stdout, outcome.stderr) == (
        2,
        "",
        f"{url}:1:1: SC606 database file 'mistyped.db' does not exist "
        "(hint: check the path: only 'schemac apply' creates one)\n",
    )
    assert not (project / "mistyped.db").exists()
    assert run_cli("apply", "--db", url, "--project", project, cwd=project).returncode == 0
    assert run_cli(command, "--db", url, "--project", project, cwd=project).returncode == 0


def test_status_after_a_killed_writer_rolls_its_journal_back(project: Path, tmp_path: Path) -> None:
    """Read-only, status could not undo the hot journal a writer killed mid-transaction leaves; it still answers."""
    url = tmp_path / "app.db"
    assert run_cli("apply", "--db", url, "--project", project, "--to", "1").returncode == 0
    writer = (
        "import os, signal, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size = 1'); c.execute('BEGIN IMMEDIATE')\n"
        "c.execute('CREATE TABLE half (x)')\n"
        "for _ in range(500): c.execute('INSERT INTO half VALUES (randomblob(1000))')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    subprocess.run([sys.executable, "-c", writer, str(url)], timeout=60)
    assert (tmp_path / "app.db-journal").exists()
    for command in ("status", "verify"):
        outcome = run_cli(command, "--db", url, "--project", project)
        assert (outcome.returncode, outcome.stderr) == (0, ""), command
    assert not (tmp_path / "app.db-journal").exists()


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "1e300"])
def test_a_lock_timeout_that_is_not_a_finite_number_of_seconds_is_a_usage_error(
    project: Path, tmp_path: Path, value: str
) -> None:
    outcome = run_cli("apply", "--db", tmp_path / "app.db", "--project", project, "--lock-timeout", value)
    assert outcome.returncode == 2
    shown = repr(float(value))
    assert outcome.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--lock-timeout': must be a number of seconds from 0 to 2147483, not {shown}"
    )
    assert not (tmp_path / "app.db").exists()


def test_a_zero_lock_timeout_on_postgresql_does_not_wait(project: Path, database_factory: Callable[[str], str]) -> None:
    psycopg = pytest.importorskip("psycopg")
    url = database_factory("postgresql")
    key = zlib.crc32(f"schemac:{urlsplit(url).path[1:]}.public".encode())
    with psycopg.connect(url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        started = time.monotonic()
        outcome = subprocess.run(  # PostgreSQL reads lock_timeout 0 as "wait forever": 60 s is plenty
            [sys.executable, "-m", "schemac", "apply", "--db", url, "--project", project, "--lock-timeout", "0"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert time.monotonic() - started < 60
    assert outcome.returncode == 2
    assert "SC608 another schemac apply held the migration lock for 0 s" in outcome.stderr


CONTROL_KEY = """\
description: x
tables:
  notes:
    columns:
      id: {type: integer, primary_key: true}
    "a\\e]0;owned\\a\\e[2J%\\nb": 1
"""


def test_github_annotations_escape_every_control_character(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "0001_notes.yaml").write_text(CONTROL_KEY, encoding="utf-8")
    outcome = run_cli("validate", "--project", tmp_path, "--format", "github")
    assert outcome.returncode == 2
    assert outcome.stdout.startswith(
        "::error file=specs/0001_notes.yaml,line=6,col=5,title=SC201::SC201 unknown key "
        "'a\\x1b]0;owned\\x07\\x1b[2J%25%0Ab' in tables.notes (hint: "
    )
    finding = Diagnostic("a\x1b[31m\\b,c.yaml", 1, 2, "SC\u202e1", "one\x07two\rthree\u2028", "x\x00y")
    assert github_annotation(finding) == (
        "::error file=a\\x1b[31m\\\\b%2Cc.yaml,line=1,col=2,title=SC\\u202e1::SC\\u202e1 one\\x07two%0Dthree\\u2028 "
        "(hint: x\\x00y)"
    )
