"""Shared fixtures: project scaffolding, the CLI runner, and the first user's loader-contract check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "authoring"
# The shared/ checkout sits beside the repository (or beside the directory holding its worktrees).
CONTRACT_CHECK = next(
    (p for p in (d / "shared" / "tools" / "loader-contract-check" for d in REPO.parents[:2]) if p.exists()),
    REPO.parent / "shared" / "tools" / "loader-contract-check",
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m schemac`` as a user would, capturing both streams."""
    return subprocess.run(
        [sys.executable, "-m", "schemac", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """A project directory holding the given spec files ({name: text}) and optional settings."""

    def make(specs: dict[str, str], settings: str | None = None, name: str = "project") -> Path:
        root = tmp_path / name
        (root / "specs").mkdir(parents=True)
        for file, text in specs.items():
            (root / "specs" / file).write_text(text, encoding="utf-8")
        if settings is not None:
            (root / "schemac.toml").write_text(settings, encoding="utf-8")
        return root

    return make


@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """A writable copy of the example project."""
    target = tmp_path / "authoring"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".schemac-cache"))  # a clean checkout
    return target


def loader_contract(directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the first user's loader-contract check on a SQLite migrations directory."""
    if not CONTRACT_CHECK.exists():
        if IN_CI:
            pytest.fail(f"loader-contract-check not found at {CONTRACT_CHECK}")
        pytest.skip(f"loader-contract-check not found at {CONTRACT_CHECK} (it lives in the shared/ checkout)")
    return subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(directory)], capture_output=True, text=True, timeout=300
    )


# Property tests: the "ci" profile keeps them fast; SCHEMAC_HYPOTHESIS_PROFILE=thorough runs 10,000 examples.
hypothesis_settings.register_profile("ci", max_examples=100, deadline=None)
hypothesis_settings.register_profile("thorough", max_examples=10_000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("SCHEMAC_HYPOTHESIS_PROFILE", "ci"))


# A spec opening one table ``t`` without audit columns; append column lines such as KEY_COLUMN.
ONE_TABLE = "description: x\ntables:\n  t:\n    audit: none\n    columns:\n"
KEY_COLUMN = "      id: {type: integer, primary_key: true}\n"


def findings(action: Callable[[], object]) -> list[str]:
    """The printed diagnostics of the :class:`schemac.SchemacError` that ``action`` must raise."""
    import schemac

    with pytest.raises(schemac.SchemacError) as caught:
        action()
    return [str(d) for d in caught.value.diagnostics]


def project_with(root: Path, specs: dict[str, str | bytes]) -> Path:
    """A project at ``root`` holding the given spec files (text or raw bytes)."""
    (root / "specs").mkdir(parents=True)
    for name, data in specs.items():
        (root / "specs" / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return root


# Real database servers: each test gets a fresh database of its own and drops it afterwards.
PG_URL = os.environ.get("SCHEMAC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SCHEMAC_TEST_MARIADB", "mariadb://root@127.0.0.1:3306/test")
ENGINES = ("sqlite", "postgresql", "mariadb")


def _unreachable(engine: str, reason: object) -> None:
    message = f"{engine} server not reachable ({reason}); set SCHEMAC_TEST_PG / SCHEMAC_TEST_MARIADB"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@pytest.fixture
def database_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``make(engine)`` → the URL of a new, empty database on that engine, removed after the test."""
    import uuid

    cleanups: list[Callable[[], None]] = []
    request.addfinalizer(lambda: [cleanup() for cleanup in reversed(cleanups)])

    def make(engine: str) -> str:
        name = f"schemac_t_{uuid.uuid4().hex[:12]}"
        if engine == "sqlite":
            return str(tmp_path / f"{name}.db")
        if engine == "postgresql":
            psycopg = pytest.importorskip("psycopg")
            try:
                admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=5)
            except psycopg.Error as exc:
                _unreachable(engine, exc)
            admin.execute(f'CREATE DATABASE "{name}"')
            admin.close()

            def drop_pg() -> None:
                with psycopg.connect(PG_URL, autocommit=True) as con:
                    con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

            cleanups.append(drop_pg)
            return _with_database(PG_URL, name)
        pymysql = pytest.importorskip("pymysql")
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(MARIADB_URL)

        def admin_mariadb() -> object:
            return pymysql.connect(
                host=parts.hostname,
                port=parts.port or 3306,
                user=unquote(parts.username or ""),
                password=unquote(parts.password or ""),
                autocommit=True,
                connect_timeout=5,
            )

        try:
            admin = admin_mariadb()
        except pymysql.Error as exc:
            _unreachable(engine, exc)
        with admin.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f"CREATE DATABASE `{name}`")
        admin.close()  # type: ignore[attr-defined]

        def drop_mariadb() -> None:
            con = admin_mariadb()
            with con.cursor() as cursor:  # type: ignore[attr-defined]
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            con.close()  # type: ignore[attr-defined]

        cleanups.append(drop_mariadb)
        return _with_database(MARIADB_URL, name)

    return make


def set_dialects(root: Path, dialects: list[str]) -> None:
    """Point a project's settings (schemac.toml) at ``dialects``, keeping its other keys."""
    settings = root / "schemac.toml"
    text = settings.read_text(encoding="utf-8") if settings.exists() else ""
    lines = [line for line in text.splitlines() if not line.strip().startswith(("dialects", "dialect "))]
    first_table = next((i for i, line in enumerate(lines) if line.startswith("[")), len(lines))
    lines.insert(first_table, "dialects = [" + ", ".join(f'"{d}"' for d in dialects) + "]")
    settings.write_text("\n".join(lines) + "\n", encoding="utf-8")


def case_project(case: Path, engine: str, workdir: Path) -> Path:
    """A copy of a golden case's project that builds only ``engine``'s migrations."""
    project = workdir / case.name
    shutil.copytree(case / "specs", project / "specs")
    for part in ("schemac.toml", "templates"):
        if (case / part).is_dir():
            shutil.copytree(case / part, project / part)
        elif (case / part).is_file():
            shutil.copy(case / part, project / part)
    set_dialects(project, [engine])
    return project


@pytest.fixture(autouse=True)
def _private_cache_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests keep the build cache's signing key in a temporary home, never the user's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[Any]:
    """A three-node MariaDB Galera cluster on loopback ports (``tests/galera.py``), started once and always
    stopped; skipped where this machine lacks a part of it, except under CI=true."""
    from galera import GaleraCluster, missing_parts

    lacking = missing_parts()
    if lacking:
        message = f"cannot start a Galera cluster here: missing {lacking}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    cluster = GaleraCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def opened(url: str) -> Iterator[Any]:
    """A schemac connection to the database at ``url`` (any engine), closed after the block."""
    from schemac.dialects.connections import connect, parse_url

    database = connect(parse_url(url), 30)
    try:
        yield database
    finally:
        database.close()
