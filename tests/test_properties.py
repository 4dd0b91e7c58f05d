"""Property tests: random valid specs give SQL that SQLite runs and reads back as the model says, and
random damage to valid YAML gives located diagnostics or a good build, never an internal error.

CI runs the ``ci`` hypothesis profile (100 examples a test); ``SCHEMAC_HYPOTHESIS_PROFILE=thorough``
runs 10,000 (see docs/development.md).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import schemac
from conftest import EXAMPLE
from schemac.dialects import Dialect
from schemac.errors import SchemacError
from schemac.migrations.manifest import FORMAT, Manifest, ManifestEntry
from schemac.model import Table
from schemac.project.compiler import Compiled, compile_project
from schemac.project.settings import load_settings
from schemac.spec.audit import AUDIT_COLUMNS
from schemac.spec.expressions import control_character, control_character_diagnostics
from schemac.spec.names import identifier_problem
from schemac.spec.source import load_document
from schemac.spec.validation import fast_accepts, schema_text

# No "_" in generated names, so idx_<table>_<columns> can never name two different indexes.
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True).filter(
    lambda n: identifier_problem(n) is None and n not in AUDIT_COLUMNS and n != "id"
)
TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp")) | st.sampled_from("\t\n"), max_size=20
)
SIMPLE_TYPES = ("text", "integer", "bigint", "smallint", "boolean", "real", "double", "timestamp", "date", "uuid")


@st.composite
def columns(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for name in draw(st.lists(NAMES, min_size=1, max_size=5, unique=True)):
        ctype = draw(st.sampled_from((*SIMPLE_TYPES, "json", "bytes", "string(12)", "decimal(10,2)")))
        column: dict[str, Any] = {"type": ctype}
        if draw(st.booleans()):
            column["nullable"] = True
        if ctype in ("text", "string(12)") and draw(st.booleans()):
            column["enum"] = draw(st.lists(TEXT.map(lambda s: s[:12]), min_size=1, max_size=4, unique=True))
        default = draw(_default(ctype, column.get("enum")))
        if default is not None:
            column["default"] = default
        if ctype not in ("json", "bytes") and draw(st.integers(0, 4)) == 0:
            column["unique"] = True
        result[name] = column
    return result


def _default(ctype: str, enum: list[str] | None) -> st.SearchStrategy[Any]:
    if enum:
        return st.none() | st.sampled_from(enum)
    values: dict[str, st.SearchStrategy[Any]] = {
        "text": TEXT,
        "string(12)": TEXT.map(lambda s: s[:12]),
        "integer": st.integers(-(2**31), 2**31 - 1),
        "bigint": st.integers(-(2**63), 2**63 - 1),
        "smallint": st.integers(-(2**15), 2**15 - 1),
        "boolean": st.booleans(),
        # SQLite's own text-to-double conversion can miss the last bit of extreme values, so stay moderate.
        "real": st.integers(-(10**12), 10**12).map(lambda n: n / 1024),
        "double": st.integers(-(10**12), 10**12).map(lambda n: n / 1000),
        "decimal(10,2)": st.integers(-(10**7), 10**7),
        "json": st.sampled_from([{}, []]),
        "date": st.dates().map(str),
        "timestamp": st.datetimes().map(lambda d: d.isoformat(timespec="seconds")),
        "uuid": st.uuids().map(str),
    }
    return st.none() | values[ctype] if ctype in values else st.none()


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for name in draw(st.lists(NAMES, min_size=1, max_size=3, unique=True)):
        cols = {"id": {"type": "integer", "primary_key": True}, **draw(columns())}
        table: dict[str, Any] = {"columns": cols}
        if tables and draw(st.booleans()):
            target = draw(st.sampled_from(sorted(tables)))
            cols[f"{target}ref"] = {"type": "integer", "nullable": True, "references": f"{target}.id"}
        indexable = [c for c, body in cols.items() if body["type"] not in ("json", "bytes") and c != "id"]
        if indexable:
            chosen = draw(
                st.lists(
                    st.lists(st.sampled_from(indexable), min_size=1, max_size=2, unique=True),
                    max_size=2,
                    unique_by=tuple,
                )
            )
            table["indexes"] = [
                {"columns": [{"name": c, "order": "desc"} if draw(st.booleans()) else c for c in index]}
                for index in chosen
            ]
        table["audit"] = draw(st.sampled_from(["full", "none", ["created"], ["updated", "deleted"]]))
        tables[name] = table
    return {"description": draw(TEXT.filter(str.strip)), "tables": tables}


def _compile(specs_by_file: dict[str, bytes]) -> Compiled:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "specs").mkdir()
        for name, data in specs_by_file.items():
            (root / "specs" / name).write_bytes(data)
        return compile_project(load_settings(root))


def _run(compiled: Compiled) -> sqlite3.Connection:
    con = sqlite3.connect(":memory:")
    con.execute("PRAGMA foreign_keys=ON")
    for name, data in sorted(compiled.outputs[0].files.items()):
        if name.endswith(".sql"):
            text = data.decode("utf-8")
            assert "\r" not in text and text.endswith("\n")
            con.executescript(text)
            con.executescript(text)
    return con


def _expect_table(con: sqlite3.Connection, table: Table, dialect: Dialect) -> None:
    info = con.execute(f'PRAGMA table_info("{table.name}")').fetchall()
    assert [row[1] for row in info] == list(table.column_names)
    for row, column in zip(info, table.columns, strict=True):
        assert row[2] == dialect.column_type(table, column)
        assert row[3] == (not column.nullable)
        pk_position = table.primary_key.index(column.name) + 1 if column.name in table.primary_key else 0
        assert row[5] == pk_position
        if column.default is None:
            assert row[4] is None
            continue
        (value,) = con.execute(f"SELECT {row[4]}").fetchone()
        expected = column.default.value
        assert value == (int(expected) if isinstance(expected, bool) else expected), (column, row[4])
    listed = {row[1]: row for row in con.execute(f'PRAGMA index_list("{table.name}")') if row[3] == "c"}
    assert set(listed) == {i.name for i in table.indexes}
    for index in table.indexes:
        assert listed[index.name][2] == index.unique
        keys = [r for r in con.execute(f'PRAGMA index_xinfo("{index.name}")') if r[5]]
        assert [(r[2], bool(r[3])) for r in keys] == [(c.name, c.descending) for c in index.columns]
    foreign = con.execute(f'PRAGMA foreign_key_list("{table.name}")').fetchall()
    assert sorted((r[2], r[3], r[4]) for r in foreign) == sorted(
        (fk.ref_table, c, rc) for fk in table.foreign_keys for c, rc in zip(fk.columns, fk.ref_columns, strict=True)
    )


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_random_valid_specs_compile_to_sql_that_sqlite_reads_back_as_the_model_says(spec: dict[str, Any]) -> None:
    text = json.dumps(spec, ensure_ascii=False, indent=1)  # JSON is YAML 1.2: every string stays a string
    compiled = _compile({"0001_generated.yaml": text.encode("utf-8")})
    con = _run(compiled)
    schema = compiled.plans[-1].schema
    assert sorted(schema) == sorted(spec["tables"])
    for table in schema.values():
        _expect_table(con, table, compiled.settings.dialect("sqlite"))
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []


SEEDS = {p.name: p.read_bytes() for p in sorted((EXAMPLE / "specs").glob("*.yaml"))}
LOCATED = re.compile(r"SC[0-9]{3}")


def _damage(draw: st.DrawFn, original: bytes) -> bytes:
    """``original`` with a few random byte flips, deletions and insertions."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "delete", "insert", "insert_text"]))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = bytes([draw(st.integers(0, 255))])
        else:
            data[at:at] = draw(st.sampled_from(INSERTS))
    return bytes(data)


INSERTS = [b":", b"- ", b"\t", b"{", b"]", b"'", b'"', b"&a ", b"*a", b"!x ", b"\n  ", b",", b"null", b"1e999"]


@st.composite
def damaged(draw: st.DrawFn) -> tuple[str, bytes]:
    """One example spec, damaged."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    return name, _damage(draw, SEEDS[name])


def _assert_located(exc: SchemacError, files: set[str] | None = None) -> None:
    """Every diagnostic names a file (one of ``files`` when given), a code, a message and a position."""
    assert exc.diagnostics
    for d in exc.diagnostics:
        assert d.file if files is None else d.file in files, d
        assert LOCATED.fullmatch(d.code) and d.message, d
        assert d.line >= 1 and d.column >= 1, d


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_yaml_gives_located_diagnostics_or_a_good_build(damage: tuple[str, bytes]) -> None:
    name, data = damage
    files = {**SEEDS, name: data}
    try:
        compiled = _compile(files)
    except SchemacError as exc:
        _assert_located(exc, {f"specs/{n}" for n in files})
        lines = len(data.decode("utf-8", "replace").splitlines()) + 1  # YAML also breaks lines at a lone CR
        assert all(d.line <= lines for d in exc.diagnostics if d.file == f"specs/{name}"), exc
        return
    _run(compiled)


MANIFEST = (EXAMPLE / "migrations" / "manifest.json").read_bytes()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.composite(lambda draw: _damage(draw, MANIFEST))())
def test_a_damaged_manifest_gives_located_diagnostics_to_the_loader_check_and_build(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "authoring"
        shutil.copytree(EXAMPLE, root)
        (root / "migrations" / "manifest.json").write_bytes(data)
        before = {p.name: p.read_bytes() for p in (root / "migrations").iterdir()}
        for verb in (lambda: schemac.load_migrations(root / "migrations"), lambda: schemac.check(root)):
            try:
                verb()
            except SchemacError as exc:
                _assert_located(exc)  # a damaged entry may name any spec or migration file
        try:
            schemac.build(root)
        except SchemacError as exc:
            _assert_located(exc)
            assert {p.name: p.read_bytes() for p in (root / "migrations").iterdir()} == before


_texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_entries = st.builds(
    ManifestEntry,
    version=st.integers(0, 10**12),
    name=_texts,
    file=_texts,
    sha256=_texts,
    spec=_texts,
    spec_sha256=_texts,
    schema_fingerprint=_texts,
    non_idempotent=st.lists(_texts, max_size=3).map(tuple),
)


@given(dialect=_texts, entries=st.lists(_entries, max_size=4).map(tuple))
def test_manifest_text_is_what_the_indenting_json_encoder_writes(
    dialect: str, entries: tuple[ManifestEntry, ...]
) -> None:
    manifest = Manifest(dialect, entries)
    files = [
        {
            "file": e.file,
            "name": e.name,
            "non_idempotent": list(e.non_idempotent),
            "schema_fingerprint": e.schema_fingerprint,
            "sha256": e.sha256,
            "spec": e.spec,
            "spec_sha256": e.spec_sha256,
            "version": e.version,
        }
        for e in entries
    ]
    data = {"algorithm": "sha256", "chain": manifest.chain, "dialect": dialect, "files": files, "format": FORMAT}
    assert manifest.to_text() == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@given(
    value=st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    style=st.sampled_from(['"', "'", None, "|"]),
)
def test_a_file_without_control_sources_holds_no_control_character(value: str, style: str | None) -> None:
    """The shortcut that skips looking for control characters never hides one: whatever PyYAML writes
    for any string, in any scalar style, either reads back free of them or is searched in full."""
    text = yaml.safe_dump({"description": value, value or "k": "v"}, default_style=style, allow_unicode=True)
    try:
        doc = load_document(text.encode("utf-8"), "spec.yaml")
    except SchemacError:
        return  # refused before the model stage (a character YAML does not allow, say)
    searched = control_character_diagnostics(dataclasses.replace(doc, may_hold_controls=True))
    assert control_character_diagnostics(doc) == searched
    if not doc.may_hold_controls:
        assert all(control_character(s) is None for s in (*doc.data, *doc.data.values()) if isinstance(s, str))


SEED_DATA = [load_document(raw, name).data for name, raw in SEEDS.items()]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.sampled_from(["text", "x.id"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found.extend(_paths(item, (*path, key)))
    return found


@st.composite
def altered_documents(draw: st.DrawFn) -> Any:
    """An example spec's data with a few values replaced, keys removed or keys added."""
    data = copy.deepcopy(draw(st.sampled_from(SEED_DATA)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        *parent_path, last = draw(st.sampled_from(paths))
        parent = data
        for key in parent_path:
            parent = parent[key]
        kind = draw(st.sampled_from(["replace", "remove", "add"]))
        if kind == "replace":
            parent[last] = draw(JSON_VALUES)
        elif kind == "remove":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
    return data


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(altered_documents())
@example({"description": "d", "tables": {"ab\n": {"columns": {"id": {"type": "text"}}}}})  # see below
def test_the_fast_validator_accepts_only_what_jsonschema_accepts(data: Any) -> None:
    """jsonschema-rs may refuse what jsonschema accepts, which only costs time: its patterns' ``$``
    does not match before a trailing newline, as Python's does (the model refuses such names)."""
    reference = Draft202012Validator(json.loads(schema_text())).is_valid(data)
    assert reference or not fast_accepts(data)
