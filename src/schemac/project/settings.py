"""Project settings: ``[tool.schemac]`` in ``pyproject.toml``, or the top level of ``schemac.toml``."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from schemac.dialects import DIALECTS, Dialect
from schemac.errors import Diagnostic, SchemacError
from schemac.project.dev_databases import key_line
from schemac.project.dev_databases import read_settings as dev_settings
from schemac.project.environments import read_settings as environment_settings
from schemac.project.inputs import MAX_SETTINGS_BYTES, is_within, read_bytes
from schemac.spec.audit import AUDIT_GROUPS, audit_groups

KNOWN_DIALECTS = tuple(DIALECTS)
_KEYS = {
    *("specs", "migrations", "templates", "dialect", "dialects", "audit", "lint", "docs", "ignore_tables", "sqlite"),
    "dev_databases",
    "environments",
    "mariadb",
    "postgresql",
}
ONLINE_ENGINES = ("mariadb", "postgresql")
"""Engines whose settings table takes ``online = false``: the plain form (:meth:`schemac.dialects.Dialect.plain`)."""
_AUDIT_KEYS = {"default", "defaults"}
MIN_VERSIONS: dict[str, tuple[int, ...]] = {"sqlite": (3, 35)}
"""Engine → the oldest version a project's migrations must run on, unless its settings say
(``[tool.schemac.sqlite] min_version``): a change ALTER makes only on newer ones is a rebuild."""
_VERSION = re.compile(r"[0-9]{1,4}(?:\.[0-9]{1,4}){1,2}")


@dataclass(frozen=True)
class Settings:
    """Where a project keeps its files and how it compiles them."""

    root: Path
    specs_dir: Path
    migrations_dir: Path
    templates_dir: Path
    dialects: tuple[str, ...] = ("sqlite",)
    audit_default: tuple[str, ...] = AUDIT_GROUPS
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    ignore_tables: frozenset[str] = frozenset()
    """Tables of the database that are not schemac's concern (another runner's history, say): ``verify``
    and ``baseline`` do not compare them."""
    min_versions: tuple[tuple[str, tuple[int, ...]], ...] = tuple(MIN_VERSIONS.items())
    """(engine, the oldest version its migrations must run on), as :data:`MIN_VERSIONS` or the settings say."""
    dev_databases: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """(engine, URL) of each dev database the settings name (see :mod:`schemac.project.dev_databases`)."""
    environments: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """(name, ``db``) of each named environment (see :mod:`schemac.project.environments`)."""
    audit_defaults: bool = False
    """``[audit] defaults = true``: ``created_at`` and ``updated_at`` default to the current time from the
    version where the setting takes effect (:mod:`schemac.project.behaviours`)."""
    audit_defaults_from: int | None = None
    """That version, once :func:`schemac.project.behaviours.resolve` has worked it out (``None``: nowhere)."""
    plain_keys_from: int | None = None
    """The version from which a new table's lone integer key without ``identity`` is a plain key on SQLite
    too, once :func:`schemac.project.behaviours.resolve` has worked it out (``None``: nowhere)."""
    recorded_behaviours: frozenset[str] = frozenset()
    """The behaviours whose version a manifest records (the others' may still move to a later version)."""
    plain_engines: frozenset[str] = frozenset()
    """Engines whose settings say ``online = false`` (``[tool.schemac.mariadb]``, ``[tool.schemac.postgresql]``):
    their migrations are written without the options and steps that make a change online
    (:meth:`schemac.dialects.Dialect.plain`)."""

    def dialect(self, name: str) -> Dialect:
        """The dialect ``name`` as this project builds for it: for the oldest engine version it supports."""
        version = dict(self.min_versions).get(name)
        dialect = DIALECTS[name] if version is None else DIALECTS[name].at_least(version)
        if dialect.plain_key_types and self.plain_keys_from is not None:  # where plain keys took effect
            dialect = replace(dialect, plain_keys_from=self.plain_keys_from)
        return dialect.plain() if name in self.plain_engines else dialect

    def output_dir(self, dialect: str) -> Path:
        """``migrations/`` for a single dialect; ``migrations/<dialect>/`` when there are several."""
        return self.migrations_dir if len(self.dialects) == 1 else self.migrations_dir / dialect

    def other_layout_dir(self, dialect: str) -> Path:
        """Where ``dialect``'s files went under the other layout: ``migrations/<dialect>/`` when there is
        one dialect, ``migrations/`` when there are several (a project that changed how many it builds)."""
        return self.migrations_dir / dialect if len(self.dialects) == 1 else self.migrations_dir

    @property
    def layout(self) -> str:
        """The layout, as findings name it: ``with 1 dialect`` or ``with 3 dialects``."""
        count = len(self.dialects)
        return f"with {count} dialect{'' if count == 1 else 's'}"

    def relative(self, path: Path) -> str:
        """A path as shown in diagnostics and manifests: relative to the project, with ``/``."""
        text, prefix = str(path), os.path.join(str(self.root), "")
        if text.startswith(prefix):  # the common case, without pathlib's cost
            return text[len(prefix) :].replace(os.sep, "/") or "."
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()


def _line_of(text: str, key: str) -> int:
    """The line that sets ``key`` (``key = ...``) or opens it as a table (``[audit]``, ``[tool.schemac.audit]``)."""
    name = re.escape(key)
    match = re.search(rf"^[ \t]*(?:{name}\s*=|\[(?:tool\.schemac\.)?{name}\])", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def setting_diagnostic(
    settings: Settings, key: str, code: str, message: str, hint: str = "", *, section: str = ""
) -> Diagnostic:
    """A finding about one key of the project's settings file, at that key's line.

    With ``section`` (``"lint"``), the key is looked for after that table's header.
    """
    path = settings.root / settings.source if settings.source else None
    text = (
        read_bytes(path, settings.source, MAX_SETTINGS_BYTES, root=settings.root).decode("utf-8", errors="replace")
        if path and path.is_file()
        else ""
    )
    header = re.search(rf"^\s*\[(tool\.schemac\.)?{re.escape(section)}[.\]]", text, re.MULTILINE) if section else None
    skipped = text.count("\n", 0, header.start()) if header else 0
    line = skipped + _line_of(text[header.start() :] if header else text, key)
    return Diagnostic(settings.source or "schemac.toml", line, 1, code, message, hint)


def load_settings(root: Path) -> Settings:
    """Read a project's settings; every key is optional."""
    root = root.resolve()
    table: dict[str, Any] = {}
    source, text = "", ""
    for name, path_in_file in (("schemac.toml", ()), ("pyproject.toml", ("tool", "schemac"))):
        path = root / name
        if not path.is_file() and not path.is_symlink():
            continue
        text = read_bytes(path, name, MAX_SETTINGS_BYTES, root=root).decode("utf-8", errors="replace")
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            at = re.search(r"line (\d+), column (\d+)", str(exc))
            line, column = (int(at.group(1)), int(at.group(2))) if at else (1, 1)
            raise SchemacError([Diagnostic(name, line, column, "SC701", f"invalid TOML: {exc}")]) from None
        except RecursionError:
            raise SchemacError([Diagnostic(name, 1, 1, "SC701", "invalid TOML: nested too deeply to read")]) from None
        for part in path_in_file:
            data = data.get(part, {}) if isinstance(data, dict) else {}
        if data or name == "schemac.toml":
            table, source = data, name
            break
    found: list[Diagnostic] = []

    def error(key: str, message: str, hint: str = "") -> None:
        found.append(Diagnostic(source, _line_of(text, key), 1, "SC702", message, hint))

    for key in sorted(set(table) - _KEYS):
        close = difflib.get_close_matches(key, sorted(_KEYS), n=1)
        error(key, f"unknown setting '{key}'", f"did you mean '{close[0]}'?" if close else "")
    dialects = table.get("dialects", [table.get("dialect", "sqlite")])
    if not isinstance(dialects, list) or not dialects or any(d not in KNOWN_DIALECTS for d in dialects):
        error(
            "dialects" if "dialects" in table else "dialect",
            f"dialects must be a non-empty list of {', '.join(KNOWN_DIALECTS)}, not {dialects!r}",
        )
        dialects = ["sqlite"]
    audit = table.get("audit", {})
    default: Any = audit.get("default", "full") if isinstance(audit, dict) else None
    if not isinstance(audit, dict):
        header = "[tool.schemac.audit]" if source == "pyproject.toml" else "[audit]"
        error("audit", f"audit must be a table: {header}")
    else:
        for key in sorted(set(audit) - _AUDIT_KEYS):
            error(key, f"unknown audit setting '{key}'", "the audit table takes: default, defaults")
    groups = audit_groups(default)
    if groups is None:
        if isinstance(audit, dict):
            error("default", f"audit default must be full, none, or a list of created/updated/deleted, not {default!r}")
        groups = AUDIT_GROUPS
    audit_defaults = audit.get("defaults", False) if isinstance(audit, dict) else False
    if not isinstance(audit_defaults, bool):
        error("defaults", f"audit defaults must be true or false, not {audit_defaults!r}")
    paths = {}
    for key, fallback in (("specs", "specs"), ("migrations", "migrations"), ("templates", "templates")):
        value = table.get(key, fallback)
        if not isinstance(value, str) or not value:
            error(key, f"{key} must be a directory path")
            value = fallback
        problem = path_problem(root, value)
        if problem:
            found.append(Diagnostic(source, _line_of(text, key), 1, problem[0], f"{key} {problem[1]}", problem[2]))
            value = fallback
        paths[key] = root / value
    ignored = table.get("ignore_tables", [])
    if not isinstance(ignored, list) or not all(isinstance(name, str) and name for name in ignored):
        error("ignore_tables", f"ignore_tables must be a list of table names, not {ignored!r}")
        ignored = []
    min_versions = dict(MIN_VERSIONS)
    sqlite = table.get("sqlite", {})
    if not isinstance(sqlite, dict):
        header = "[tool.schemac.sqlite]" if source == "pyproject.toml" else "[sqlite]"
        error("sqlite", f"sqlite must be a table: {header}")
    else:
        for key in sorted(set(sqlite) - {"min_version"}):
            error(key, f"unknown sqlite setting '{key}'", "the sqlite table takes: min_version")
        value = sqlite.get("min_version")
        if isinstance(value, str) and _VERSION.fullmatch(value):
            min_versions["sqlite"] = tuple(int(part) for part in value.split("."))
        elif value is not None:
            error(
                "min_version",
                f'sqlite min_version must be a version such as "3.35" or "3.35.5", not {value!r}',
                'write the oldest SQLite the migrations must run on, quoted: min_version = "3.35"',
            )
    plain_engines = set()
    for engine in ONLINE_ENGINES:
        engine_table = table.get(engine, {})
        if not isinstance(engine_table, dict):
            header = f"[tool.schemac.{engine}]" if source == "pyproject.toml" else f"[{engine}]"
            error(engine, f"{engine} must be a table: {header}")
            continue

        def engine_error(key: str, message: str, hint: str = "", engine: str = engine) -> None:
            """A finding at ``key`` of the engine's table (another engine's table may hold the same key)."""
            header = re.search(rf"^\s*\[(?:tool\.schemac\.)?{engine}\]", text, re.MULTILINE)
            skipped = text.count("\n", 0, header.start()) if header else 0
            line = skipped + _line_of(text[header.start() :] if header else text, key)
            found.append(Diagnostic(source, line, 1, "SC702", message, hint))

        for key in sorted(set(engine_table) - {"online"}):
            engine_error(key, f"unknown {engine} setting '{key}'", f"the {engine} table takes: online")
        online = engine_table.get("online", True)
        if not isinstance(online, bool):
            engine_error("online", f"{engine} online must be true or false, not {online!r}")
        elif not online:
            plain_engines.add(engine)
    dev_databases, problems = dev_settings(table.get("dev_databases", {}))
    for key, message, hint in problems:
        found.append(Diagnostic(source, key_line(text, "dev_databases", key), 1, "SC702", message, hint))
    environments, problems = environment_settings(table.get("environments", {}))
    for key, message, hint in problems:
        found.append(Diagnostic(source, _line_of(text, f"environments.{key}".rstrip(".")), 1, "SC702", message, hint))
    if found:
        raise SchemacError(found)
    return Settings(
        root,
        paths["specs"],
        paths["migrations"],
        paths["templates"],
        tuple(dict.fromkeys(dialects)),
        groups,
        source,
        table,
        frozenset(ignored),
        tuple(min_versions.items()),
        tuple(dev_databases.items()),
        tuple(sorted(environments.items())),
        audit_defaults=audit_defaults is True,
        plain_engines=frozenset(plain_engines),
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def path_problem(root: Path, value: str) -> tuple[str, str, str] | None:
    """Why ``value``, a path setting, cannot be used: (code, message after the key's name, hint), or ``None``.

    A path may not hold a control character (it is quoted into generated files) and must resolve,
    symlinks followed, to ``root`` (resolved) or below it: a repository's settings never make schemac
    read or write elsewhere.
    """
    if _CONTROL.search(value):
        return "SC702", f"must be a path without control characters, not '{value}'", ""
    if not is_within(Path(os.path.realpath(root / value)), root):
        return (
            "SC705",
            f"must be a path inside the project, not {value!r}",
            "use a path relative to the project directory, without '..' or a symlink leading out of it",
        )
    return None
