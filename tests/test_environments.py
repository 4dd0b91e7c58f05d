"""Named environments: ``[environments.NAME] db = …`` picked with ``--env``; ``--db`` wins, then ``--env``,
then ``SCHEMAC_DB``; a password never shows, nor a value read from a variable that is not a URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import EXAMPLE

SETTINGS = """# environments
[environments.production]
db = "env:APP_DATABASE_URL"

[environments.local]
db = "local.db"

[environments.url]
db = "sqlite:///url.db"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    shutil.copytree(EXAMPLE / "specs", root / "specs")
    (root / "schemac.toml").write_text(SETTINGS, encoding="utf-8")
    schemac.build(root)
    return root


def cli(project: Path, *args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """``schemac ARGS`` run in ``project`` with only ``environment`` set among schemac's variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCHEMAC_DB", "APP_DATABASE_URL")} | environment
    return subprocess.run(
        [sys.executable, "-m", "schemac", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def test_env_names_a_database_in_a_variable_or_a_file_of_the_project(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "prod.db"
    done = cli(project, "apply", "--env", "production", APP_DATABASE_URL=str(target))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"4 applied; {target} is at version 4\n"
    done = cli(tmp_path, "apply", "--env", "local", "--project", str(project), "-q")  # from another directory
    assert done.returncode == 0, done.stderr
    assert (project / "local.db").is_file() and not (tmp_path / "local.db").exists()
    assert cli(project, "verify", "--env", "local").stdout == f"{project / 'local.db'} matches the specs at version 4\n"
    assert schemac.environment_url(project, "local") == str(project / "local.db")
    assert schemac.environment_url(project, "url") == str(project / "url.db")  # a relative URL too


def test_db_wins_over_env_which_wins_over_schemac_db(project: Path, tmp_path: Path) -> None:
    given, named, ambient = tmp_path / "given.db", tmp_path / "named.db", tmp_path / "ambient.db"
    done = cli(project, "apply", "--db", str(given), "--env", "production", APP_DATABASE_URL=str(named))
    assert done.returncode == 0 and given.exists() and not named.exists()
    done = cli(project, "apply", "--env", "production", APP_DATABASE_URL=str(named), SCHEMAC_DB=str(ambient))
    assert done.returncode == 0 and named.exists() and not ambient.exists()
    done = cli(project, "apply", SCHEMAC_DB=str(ambient))
    assert done.returncode == 0 and ambient.exists()


@pytest.mark.parametrize(
    ("args", "environment", "message"),
    [
        (
            ("apply", "--env", "production"),
            {},
            "schemac.toml:2:1: SC706 environment 'production' reads its database from $APP_DATABASE_URL, which is "
            "not set",
        ),
        (
            ("status", "--env", "staging"),
            {},
            "schemac.toml:1:1: SC706 no environment 'staging' in the settings (the environments: local, production, "
            "url) (hint: environments are [environments.NAME] tables of schemac.toml)",
        ),
        (
            ("verify",),
            {},
            "schemac.toml:1:1: SC706 no database: give --db URL, --env NAME or the SCHEMAC_DB environment variable",
        ),
        (
            ("apply", "--env", "production"),
            {"APP_DATABASE_URL": "AKIA-not-a-url-s3cr3t"},
            "schemac.toml:2:1: SC706 environment 'production': $APP_DATABASE_URL does not hold a database URL (hint: "
            "it must hold a sqlite:///, postgresql:// or mariadb:// URL, or the path of a .db, .sqlite or .sqlite3 "
            "file)",
        ),
    ],
)
def test_a_missing_or_unknown_environment_is_sc706_and_shows_no_value(
    project: Path, args: tuple[str, ...], environment: dict[str, str], message: str
) -> None:
    done = cli(project, *args, **environment)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


def test_a_password_read_from_a_variable_is_masked(project: Path) -> None:
    (project / "schemac.toml").write_text('dialects = ["postgresql"]\n' + SETTINGS, encoding="utf-8")
    schemac.build(project)
    url = "postgresql://app:s3cr3t-pw@127.0.0.1:1/none"  # nothing listens on port 1
    done = cli(project, "status", "--env", "production", APP_DATABASE_URL=url)
    assert done.returncode == 2 and "s3cr3t" not in done.stderr + done.stdout
    assert done.stderr.startswith("postgresql://app:***@127.0.0.1:1/none:1:1: SC606 ")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            '[environments.prod]\ndb = "postgresql://app:pw@db.example/app"\n',
            "schemac.toml:1:1: SC702 environment 'prod': db holds a password (hint: keep it in a variable: "
            'db = "env:VARIABLE")',
        ),
        (
            '\n[environments.prod]\nurl = "x.db"\n',
            "schemac.toml:2:1: SC702 environment 'prod' takes one key, db, not ['url'] (hint: for example: "
            '[environments.production] with db = "env:DATABASE_URL")',
        ),
        (
            '[environments.prod]\ndb = "env:1BAD"\n',
            "schemac.toml:1:1: SC702 environment 'prod': 'env:1BAD' does not name an environment variable (hint: "
            'for example: [environments.production] with db = "env:DATABASE_URL")',
        ),
        (
            'environments = "prod"\n',
            "schemac.toml:1:1: SC702 environments must be a table: [environments.NAME] with db = ...",
        ),
    ],
)
def test_a_bad_environment_setting_is_a_located_error(
    settings: str, message: str, make_project: Callable[..., Path]
) -> None:
    root = make_project({}, settings)
    done = cli(root, "status", "--db", "x.db")
    assert (done.returncode, done.stderr) == (2, message + "\n")
    assert "pw@" not in done.stderr
