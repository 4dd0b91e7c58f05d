"""Named environments: ``[tool.schemac.environments.NAME]`` with ``db = "…"``, chosen with ``--env NAME``.

``db`` is a database URL (one without a password: the settings file is committed) or ``env:VARIABLE``,
read from the environment when the command runs, so that a password stays out of the repository and
off the command line. A URL read from a variable is never printed whole: its password is masked as a
``--db`` one is, and a value that is not a database URL is reported by the variable's name alone (the
settings come with the repository, which may name any variable).

Which database a command uses: ``--db`` when given, else ``--env NAME``, else ``SCHEMAC_DB``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemac.errors import Diagnostic, SchemacError

if TYPE_CHECKING:
    from schemac.project.settings import Settings

FROM_ENVIRONMENT = "env:"
"""A ``db`` value starting so names the environment variable that holds the URL."""
DATABASE_VARIABLE = "SCHEMAC_DB"
"""The environment variable a command reads its database from when neither ``--db`` nor ``--env`` is given."""
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def read_settings(table: Any) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """``environments`` of the settings as name → ``db``, and (key, message, hint) for each problem."""
    if not isinstance(table, dict):
        return {}, [("", "environments must be a table: [environments.NAME] with db = ...", "")]
    found: dict[str, str] = {}
    problems: list[tuple[str, str, str]] = []
    for name, body in table.items():
        if not _NAME.fullmatch(name):
            problems.append((name, f"environment name {name!r} must be letters, digits, '_' or '-'", ""))
            continue
        if not isinstance(body, dict) or set(body) != {"db"}:
            keys = sorted(body) if isinstance(body, dict) else body
            problems.append((name, f"environment '{name}' takes one key, db, not {keys!r}", _HINT))
            continue
        db = body["db"]
        if not isinstance(db, str) or not db.strip():
            problems.append((name, f"environment '{name}': db must be a database URL or env:VARIABLE", _HINT))
        elif db.startswith(FROM_ENVIRONMENT) and not _VARIABLE.fullmatch(db[len(FROM_ENVIRONMENT) :]):
            problems.append((name, f"environment '{name}': {db!r} does not name an environment variable", _HINT))
        elif not db.startswith(FROM_ENVIRONMENT) and _has_password(db):
            problems.append(
                (name, f"environment '{name}': db holds a password", 'keep it in a variable: db = "env:VARIABLE"')
            )
        else:
            found[name] = db
    return found, problems


_HINT = 'for example: [environments.production] with db = "env:DATABASE_URL"'


def _has_password(url: str) -> bool:
    from schemac.dialects.connections import url_secrets

    return bool(url_secrets(url))


def environment_url(project: str | Path, name: str) -> str:
    """The database URL of environment ``name`` of ``project``'s settings (an ``env:`` variable read now);
    ``schemac.apply(project, schemac.environment_url(project, "production"))``."""
    from schemac.project.settings import load_settings

    return database_url(load_settings(Path(project)), None, name)[0]


def database_url(
    settings: Settings, db: str | None, env: str | None, environ: Mapping[str, str] = os.environ
) -> tuple[str, tuple[str, ...]]:
    """The URL a command uses (``--db``, else environment ``env``, else ``SCHEMAC_DB``) and the texts no
    output may show (its passwords; the whole value when it is not a database URL)."""
    from schemac.dialects.connections import url_secrets

    if db is not None:  # given, even empty: the URL's own checks answer
        return db, url_secrets(db)
    if env is None:
        value = environ.get(DATABASE_VARIABLE, "")
        if not value:
            raise _error(settings, "", "no database: give --db URL, --env NAME or the SCHEMAC_DB environment variable")
        return value, url_secrets(value)
    environments = dict(settings.environments)
    if env not in environments:
        known = ", ".join(sorted(environments)) or "none"
        hint = f"environments are [environments.NAME] tables of {settings.source or 'schemac.toml'}"
        raise _error(
            settings, "environments", f"no environment '{env}' in the settings (the environments: {known})", hint
        )
    value = environments[env]
    if not value.startswith(FROM_ENVIRONMENT):
        path = value.removeprefix("sqlite:///") if value.startswith("sqlite:///") else value
        if "://" not in path and not Path(path).is_absolute():  # a SQLite file, from the project
            value = str(settings.root / path)
        return value, url_secrets(value)
    variable = value[len(FROM_ENVIRONMENT) :]
    url = environ.get(variable, "")
    if not url:
        raise _error(settings, env, f"environment '{env}' reads its database from ${variable}, which is not set")
    if not _DATABASE.fullmatch(url):  # never shown: the repository chose the variable
        raise _error(settings, env, f"environment '{env}': ${variable} does not hold a database URL", _URL_HINT)
    return url, url_secrets(url)


_DATABASE = re.compile(r"(?i:sqlite|postgres|postgresql|mariadb|mysql)://\S*|[^\s:]+\.(?:db|sqlite|sqlite3)")
"""What a variable must hold to be used as a database: a URL of a known scheme or a SQLite file's path."""
_URL_HINT = "it must hold a sqlite:///, postgresql:// or mariadb:// URL, or the path of a .db, .sqlite or .sqlite3 file"


def _error(settings: Settings, env: str, message: str, hint: str = "") -> SchemacError:
    """SC706 at the line of environment ``env``'s table (``environments``: the first; ``""``: line 1)."""
    from schemac.project.settings import setting_diagnostic

    if not env:
        return SchemacError([Diagnostic(settings.source or "schemac.toml", 1, 1, "SC706", message, hint)])
    key = env if env == "environments" else f"environments.{env}"
    return SchemacError([setting_diagnostic(settings, key, "SC706", message, hint)])
