"""Connections: reading a ``--db`` URL (:func:`parse_url`, :class:`Target`, password masking) and
opening it (:func:`connect`), with the engine's :class:`~schemac.dialects.base.Database` taken from
:data:`schemac.dialects.DATABASES`.

Drivers are imported on connect, so SQLite needs nothing and the others only their extra.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from schemac.dialects.base import connect_error, error
from schemac.errors import SchemacError

if TYPE_CHECKING:
    from schemac.dialects.base import Database


SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mariadb": "mariadb",
    "mysql": "mariadb",
}
"""URL scheme (any case) → engine; a ``--db`` without ``://`` is a SQLite path."""
EXAMPLES = {
    "sqlite": "sqlite:///relative.db or sqlite:////absolute.db",
    "postgresql": "postgresql://user@host:5432/dbname",
    "mariadb": "mariadb://user@host:3306/dbname",
}
_PASSWORD_PARAMETER = re.compile(r"(?i)(\b(?:ssl)?(?:password|passwd|pwd)\s*=)([^&]*)")
"""A password given as a parameter (``?password=…``, or ``password=…`` in a libpq string): to the next ``&``."""
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODE_HINT = "percent-encode '@', '/', '?', '#' and '%' in the user name and password (%40, %2F, %3F, %23, %25)"


@dataclass(frozen=True)
class Target:
    """A database named by ``--db``: which engine, and the URL as given and as messages show it."""

    url: str = field(repr=False)
    dialect: str
    shown: str
    """The URL with every password as ``***``."""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    """Every password the URL may hold, as written and percent-decoded, longest first."""

    def mask(self, text: str) -> str:
        return mask(text, self.secrets)

    @property
    def sqlite_file(self) -> Path | None:
        """The file a SQLite target names (``path``, ``sqlite:///relative``, ``sqlite:////absolute``); None for
        a server."""
        if self.dialect != "sqlite":
            return None
        return Path(self.url[len("sqlite:///") :] if "://" in self.url else self.url)


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (longest first) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a user's password would be, read generously: from the first ``:`` after ``://`` (or after
    the start, when ``://`` is missing or follows the ``@``) to the last ``@``, so that an unencoded
    ``@``, ``/``, ``?`` or ``#`` in it is still inside."""
    at = url.rfind("@")
    scheme_end = url.rfind("://", 0, at) if at >= 0 else -1
    colon = url.find(":", scheme_end + 3 if scheme_end >= 0 else 0, at) if at >= 0 else -1
    return (colon + 1, at) if colon >= 0 else None


def url_secrets(url: str) -> tuple[str, ...]:
    """The texts of ``url`` that may be passwords, raw and percent-decoded: what no message may show."""
    found = [match.group(2) for match in _PASSWORD_PARAMETER.finditer(url)]
    span = _password_span(url)
    if span:
        found.append(url[span[0] : span[1]])
    found += [unquote(text) for text in found]
    return tuple(sorted({text for text in found if text}, key=len, reverse=True))


def _shown(url: str, secrets: Sequence[str]) -> str:
    shown = _PASSWORD_PARAMETER.sub(r"\1***", url)
    span = _password_span(shown)
    if span:
        shown = shown[: span[0]] + "***" + shown[span[1] :]
    return mask(shown, secrets)


@dataclass(frozen=True)
class Server:
    """A server URL read strictly: ``scheme://[user[:password]@]hostport[/path][?query][#fragment]``."""

    user: str | None
    password: str | None
    hostport: str
    tail: str
    """The path, query and fragment, as written."""


def read_server(url: str) -> Server:
    """The parts of a server URL (user and password percent-decoded); ValueError(message, hint) naming no password."""
    rest = url.partition("://")[2]
    end = len(rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0])
    authority, tail = rest[:end], rest[end:]
    if "@" in tail:
        raise ValueError("the URL has an '@' after its host, so where its password ends is unclear", _ENCODE_HINT)
    if _BAD_PERCENT.search(url):
        raise ValueError("a '%' in the URL starts no %XX escape", _ENCODE_HINT)
    userinfo, at, hostport = authority.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return Server(unquote(user) if at else None, unquote(password) if colon else None, hostport, tail)


def read_address(hostport: str) -> tuple[str, int]:
    """(host, port) of a MariaDB URL: the port defaults to 3306, an IPv6 address is written in brackets."""
    try:
        parts = urlsplit(f"//{hostport}")
        return parts.hostname or "localhost", parts.port or 3306
    except ValueError as exc:
        raise ValueError(
            f"host and port '{hostport}' are not valid: {exc}", "host:port with a port up to 65535; IPv6 as [::1]"
        ) from None


def parse_url(url: str) -> Target:
    """``path``, ``sqlite:///relative``, ``sqlite:////absolute``, ``postgresql://…``, ``mariadb://…``/``mysql://…``.

    A URL that does not read one way only is SC601; it is never guessed at, and never shown with a password.
    """
    secrets = url_secrets(url)
    shown = _shown(url, secrets) or "--db"

    def refuse(message: str, hint: str) -> SchemacError:
        return error(shown, "SC601", mask(message, secrets), hint)

    scheme, separator, rest = url.partition("://")
    if not url.strip():
        raise refuse("the database URL is empty", "give a SQLite path or a URL with --db or SCHEMAC_DB")
    if not separator:
        prefix = url.partition(":")[0]
        if prefix.lower() in SCHEMES and prefix != url:
            raise refuse(f"a database URL needs '//' after '{prefix}:'", EXAMPLES[SCHEMES[prefix.lower()]])
        return Target(url, "sqlite", shown, secrets)
    dialect = SCHEMES.get(scheme.lower())
    if dialect is None:
        raise refuse(
            f"unsupported database URL scheme '{scheme}'", "use a file path, sqlite:///, postgresql://, mariadb://"
        )
    if dialect == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise refuse("a SQLite URL needs a path", EXAMPLES[dialect])
        return Target(url, dialect, shown, secrets)
    try:
        server = read_server(url)
        if dialect == "mariadb":
            read_address(server.hostport)
    except ValueError as exc:
        raise refuse(*exc.args) from None
    return Target(url, dialect, shown, secrets)


def connect(target: Target, timeout: float, *, read_only: bool = False, read_timeout: float | None = None) -> Database:
    """An autocommit connection (the applier opens its own transactions), or SC606 naming the database.

    ``read_only`` (``status``, ``verify``): a SQLite file is opened read-only, and one that does not
    exist is SC606 instead of a new, empty database. Every message has the URL's passwords masked.
    """
    from schemac.dialects import DATABASES  # the engines' modules import this one

    try:
        database = DATABASES[target.dialect].open(target, timeout, read_only, read_timeout)
        for sql in database.session_settings:
            database.execute(sql)
        return database
    except SchemacError:
        raise
    except Exception as exc:
        raise connect_error(target, f"cannot connect: {' '.join(target.mask(str(exc)).split())}") from None
