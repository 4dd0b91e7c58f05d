"""One bad input per error code the core emits, with its exact message and line:column."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import KEY_COLUMN as KEYED
from conftest import ONE_TABLE as T
from conftest import findings, project_with

TWO_TABLES = "description: x\ntables:\n  a:\n    audit: none\n    columns:\n" + KEYED

SPEC_ERRORS: dict[str, tuple[dict[str, str | bytes], str]] = {
    "SC102": (
        {"0001_a.yaml": b"description: caf\xe9\n"},
        "specs/0001_a.yaml:1:17: SC102 file is not valid UTF-8 (byte 0xe9) (hint: save the file as UTF-8)",
    ),
    "SC103": (
        {"0001_a.yaml": b"\xef\xbb\xbfdescription: x\n"},
        "specs/0001_a.yaml:1:1: SC103 file starts with a UTF-8 byte-order mark (hint: save the file as UTF-8 without "
        "a BOM)",
    ),
    "SC104": (
        {"0001_a.yaml": "description: x\ntables:\n\tt: {}\n"},
        "specs/0001_a.yaml:3:1: SC104 tab character in indentation (hint: YAML indents with spaces only)",
    ),
    "SC105": (
        {"0001_a.yaml": T + "      id: {type: integer}\n      id: {type: text}\n"},
        "specs/0001_a.yaml:7:7: SC105 duplicate key 'id' (first defined at line 6) (hint: keep one of the two entries)",
    ),
    "SC106": (
        {"0001_a.yaml": "description: &d x\ntables: {t: {columns: {id: {type: text}}}}\n"},
        "specs/0001_a.yaml:1:14: SC106 YAML anchor 'd' is not allowed in a spec (hint: write the value out in full)",
    ),
    "SC107": (
        {"0001_a.yaml": "description: !custom x\n"},
        "specs/0001_a.yaml:1:14: SC107 YAML tag '!custom' is not allowed in a spec (hint: remove the tag; specs use "
        "plain YAML values)",
    ),
    "SC108": (
        {"0001_a.yaml": "# only a comment\n"},
        "specs/0001_a.yaml:1:1: SC108 spec is empty (hint: a spec is a mapping with at least a description)",
    ),
    "SC109": (
        {"0001_a.yaml": "description: x\n---\ndescription: y\n"},
        "specs/0001_a.yaml:2:1: SC109 file holds more than one YAML document (hint: keep one spec per file)",
    ),
    "SC110": (
        {"0001_a.yaml": "description: x\n[a, b]: 1\n"},
        "specs/0001_a.yaml:2:1: SC110 a mapping key must be a plain name, not a list",
    ),
    "SC112": (
        {"1_Bad.yaml": "description: x\n"},
        "specs/1_Bad.yaml:1:1: SC112 spec file name '1_Bad.yaml' does not match <version>_<slug>.yaml (hint: name it "
        "like 0001_create_documents.yaml (slug: a-z, 0-9, _))",
    ),
    "SC113": (
        {"0001_a.yaml": "description: x\n", "01_b.yaml": "description: y\n"},
        "specs/01_b.yaml:1:1: SC113 version 1 is already used by specs/0001_a.yaml (hint: give this spec the next "
        "free version (schemac new))",
    ),
    "SC201": (
        {"0001_a.yaml": T + "      id: {type: integer, nulable: true}\n"},
        "specs/0001_a.yaml:6:27: SC201 unknown key 'nulable' in tables.t.columns.id (hint: did you mean 'nullable'?)",
    ),
    "SC202": (
        {"0001_a.yaml": T + "      id: {type: integer, nullable: 'yes'}\n"},
        "specs/0001_a.yaml:6:37: SC202 tables.t.columns.id.nullable must be a boolean (true or false), not a string",
    ),
    "SC203": (
        {"0001_a.yaml": "tables:\n  t:\n    columns: {id: {type: text}}\n"},
        "specs/0001_a.yaml:1:1: SC203 spec is missing the required key 'description'",
    ),
    "SC204": (
        {"0001_a.yaml": T + "      id: {type: integer, references: u.id, on_delete: cascading}\n"},
        "specs/0001_a.yaml:6:56: SC204 tables.t.columns.id.on_delete must be one of cascade, restrict, set null, "
        "set default, no action, not 'cascading' (hint: did you mean 'cascade'?)",
    ),
    "SC205": (
        {"0001_a.yaml": T + "      id: {type: wibble}\n"},
        "specs/0001_a.yaml:6:18: SC205 unknown type 'wibble' (hint: known types: text, string(n), integer, bigint, "
        "smallint, boolean, real, double, decimal(p,s), timestamp, date, json, uuid, bytes)",
    ),
    "SC206": (
        {"0001_a.yaml": T + "      id: {type: integer, references: u}\n"},
        "specs/0001_a.yaml:6:39: SC206 tables.t.columns.id.references must be 'table.column', not 'u'",
    ),
    "SC207": (
        {"0001_a.yaml": "description: x\ntables:\n  t:\n    columns: {}\n"},
        "specs/0001_a.yaml:4:14: SC207 tables.t.columns must not be empty",
    ),
    "SC208": (
        {"0001_a.yaml": T + "      id: {type: text, enum: [a, a]}\n"},
        "specs/0001_a.yaml:6:30: SC208 tables.t.columns.id.enum lists the same item twice",
    ),
    "SC301": (
        {"0001_a.yaml": T + "      Id: {type: integer}\n"},
        "specs/0001_a.yaml:6:7: SC301 'Id' is not a valid name: use lowercase letters, digits and _, not starting "
        "with a digit",
    ),
    "SC302": (
        {"0001_a.yaml": T + "      order: {type: integer}\n"},
        "specs/0001_a.yaml:6:7: SC302 'order' is a reserved word in SQLite, PostgreSQL or MariaDB (hint: choose "
        "another name, such as 'order_value')",
    ),
    "SC303": (
        {"0001_a.yaml": T + "      " + "c" * 64 + ": {type: integer}\n"},
        "specs/0001_a.yaml:6:7: SC303 name 'cccccccccccccccccccc…' is 64 characters, over the limit of 63 (hint: use "
        "a shorter name)",
    ),
    "SC304": (
        {
            "0001_a.yaml": T
            + "      a: {type: integer, check: a > 0}\n    checks:\n      - {name: a, expression: a < 9}\n"
        },
        "specs/0001_a.yaml:8:7: SC304 two checks of table 't' are both named 'ck_t_a' (hint: give one of them an "
        "explicit name)",
    ),
    "SC305": (
        {"0001_a.yaml": T + "      u_id: {type: integer, references: u.id}\n"},
        "specs/0001_a.yaml:6:41: SC305 foreign key fk_t_u_id references table 'u', which does not exist (hint: known "
        "tables: t)",
    ),
    "SC306": (
        {"0001_a.yaml": T + "      a: {type: integer}\n    indexes:\n      - columns: [b]\n"},
        "specs/0001_a.yaml:8:19: SC306 index column 'b' is not a column of table 't'",
    ),
    "SC307": (
        {
            "0001_a.yaml": T
            + "      a: {type: integer, primary_key: true}\n      b: {type: integer, primary_key: true}\n"
        },
        "specs/0001_a.yaml:7:39: SC307 table 't' marks more than one column as primary_key: a, b (hint: use a "
        "table-level primary_key: [a, b])",
    ),
    "SC308": (
        {"0001_a.yaml": T + "      a: {type: text, enum: [x, y], default: z}\n"},
        "specs/0001_a.yaml:6:46: SC308 default 'z' is not one of the enum values",
    ),
    "SC309": (
        {"0001_a.yaml": T + "      created_at: {type: timestamp}\n"},
        "specs/0001_a.yaml:6:7: SC309 'created_at' is an audit column and is added by the compiler (hint: remove it "
        "and control audit columns with the table's audit: key; only a table from the baseline spec keeps audit "
        "columns written by hand)",
    ),
    "SC310": (
        {"0001_a.yaml": T + "      a: {type: integer, check: 'a > 0; DROP TABLE t'}\n"},
        "specs/0001_a.yaml:6:33: SC310 expression contains ';': an expression cannot hold a second statement",
    ),
    "SC311": (
        {
            "0001_a.yaml": TWO_TABLES
            + "      b_id: {type: integer, references: b.id}\n  b:\n    audit: none\n    columns:\n"
            + KEYED
            + "      a_id: {type: integer, references: a.id}\n"
        },
        "specs/0001_a.yaml:3:3: SC311 circular foreign keys: a -> b -> a (hint: drop one of the foreign keys, or add "
        "it in a later spec)",
    ),
    "SC312": (
        {
            "0001_a.yaml": TWO_TABLES
            + "      code: {type: text}\n  b:\n    audit: none\n    columns:\n"
            + "      a_code: {type: text, references: a.code}\n"
        },
        "specs/0001_a.yaml:11:40: SC312 foreign key fk_b_a_code references a(code), which is neither its primary key "
        "nor unique (hint: reference the primary key or a unique column)",
    ),
    "SC313": (
        {
            "0001_a.yaml": TWO_TABLES
            + "  b:\n    audit: none\n    columns:\n      a_id: {type: text, references: a.id}\n"
        },
        "specs/0001_a.yaml:10:38: SC313 foreign key fk_b_a_id: column 'a_id' is text but 'a.id' is integer (hint: "
        "give both columns the same type)",
    ),
}


@pytest.mark.parametrize("code", sorted(SPEC_ERRORS))
def test_spec_error(code: str, tmp_path: Path) -> None:
    files, expected = SPEC_ERRORS[code]
    project = project_with(tmp_path / "p", files)
    assert findings(lambda: schemac.validate(project)) == [expected]
    assert not (project / "migrations").exists()


def test_sc100_unreadable_spec(tmp_path: Path) -> None:
    project = project_with(tmp_path / "p", {})
    (project / "specs" / "0001_a.yaml").mkdir()
    assert findings(lambda: schemac.validate(project)) == [
        "specs/0001_a.yaml:1:1: SC100 cannot read file: Is a directory"
    ]


def test_sc101_oversized_spec(tmp_path: Path) -> None:
    project = project_with(tmp_path / "p", {"0001_a.yaml": b"#" * (5 * 1024 * 1024 + 1)})
    assert findings(lambda: schemac.validate(project)) == [
        "specs/0001_a.yaml:1:1: SC101 file is 5242881 bytes, over the limit of 5242880 bytes (hint: split the spec "
        "into several smaller specs)"
    ]


def test_sc111_missing_specs_directory(tmp_path: Path) -> None:
    assert findings(lambda: schemac.build(tmp_path)) == [
        "specs:1:1: SC111 specs directory 'specs' does not exist (hint: run 'schemac init' or pass --project)"
    ]


# --- SC5xx: published migrations and the manifest ------------------------------------------------


@pytest.fixture
def published(tmp_path: Path) -> Path:
    project = project_with(tmp_path / "p", {"0001_a.yaml": T + KEYED})
    schemac.build(project)
    return project


def _edit_manifest(project: Path, change: Callable[[str], str]) -> None:
    path = project / "migrations" / "manifest.json"
    path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")


def test_sc515_new_spec_below_published(published: Path) -> None:
    (published / "specs" / "0005_b.yaml").write_text(T.replace("  t:", "  b:") + KEYED, encoding="utf-8")
    schemac.build(published)
    (published / "specs" / "0003_c.yaml").write_text(T.replace("  t:", "  c:") + KEYED, encoding="utf-8")
    assert findings(lambda: schemac.build(published)) == [
        "specs/0003_c.yaml:1:1: SC515 version 3 (0003_c.sql) is new but numbered at or below 5 (0005_b.sql), the "
        "newest version recorded: a runner applies only versions above the newest it has applied, so it would never "
        "run this one (hint: renumber specs/0003_c.yaml above 5 and rebuild)"
    ]


def test_sc501_edited_migration_seen_by_the_loader(published: Path) -> None:
    path = published / "migrations" / "0001_a.sql"
    path.write_bytes(path.read_bytes() + b"-- x\n")
    shown = (published / "migrations").as_posix()
    assert findings(lambda: schemac.load_migrations(published / "migrations")) == [
        f"{shown}/0001_a.sql:1:1: SC501 edited: file differs from its SHA-256 in the manifest "
        "(hint: restore it from version control; change the schema with a follow-up spec)"
    ]


def test_sc502_deleted_migration(published: Path) -> None:
    (published / "migrations" / "0001_a.sql").unlink()
    assert findings(lambda: schemac.build(published)) == [
        "migrations/0001_a.sql:1:1: SC502 removed: published migration is missing (hint: restore it from version "
        "control)"
    ]


def test_sc503_unknown_migration_file(published: Path) -> None:
    (published / "migrations" / "0009_x.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert findings(lambda: schemac.build(published)) == [
        "migrations/0009_x.sql:1:1: SC503 added: migration file is not produced by any spec (hint: remove it, add "
        "the spec that produces it, or record a hand-written file with 'schemac adopt'; new hand-written SQL goes "
        "in specs/ as a raw SQL step)"
    ]


def test_sc504_manifest_not_json(published: Path) -> None:
    _edit_manifest(published, lambda text: '{\n  "algorithm": "sha256",\n  oops\n}\n')
    assert findings(lambda: schemac.build(published)) == [
        "migrations/manifest.json:3:3: SC504 manifest is not valid JSON: Expecting property name enclosed in double "
        "quotes (hint: restore manifest.json from version control: it records what was published)"
    ]


def test_sc505_manifest_entry_missing_a_key(published: Path) -> None:
    _edit_manifest(published, lambda text: text.replace('      "spec": "specs/0001_a.yaml",\n', ""))
    assert findings(lambda: schemac.build(published)) == [
        "migrations/manifest.json:10:1: SC505 manifest files[0] is missing the key 'spec' (hint: restore manifest.json "
        "from version control: it records what was published)"
    ]


def test_sc506_manifest_hash_edited_by_hand(published: Path) -> None:
    _edit_manifest(published, lambda text: text.replace('"sha256": "', '"sha256": "0', 1))
    assert findings(lambda: schemac.build(published)) == [
        "migrations/manifest.json:6:1: SC506 manifest chain does not match its files: the manifest was edited by "
        "hand (hint: restore manifest.json from version control: it records what was published)"
    ]


def test_sc507_output_not_built(published: Path) -> None:
    (published / "specs" / "0002_b.yaml").write_text(T.replace("  t:", "  b:") + KEYED, encoding="utf-8")
    assert [str(d.diagnostic) for d in schemac.check(published).drift] == [
        "migrations/0002_b.sql:1:1: SC507 missing: the specs produce this file but it was not built (hint: run "
        "'schemac build')",
        "migrations/manifest.json:6:1: SC507 out of date: the specs give different content (hint: run 'schemac "
        "build' (a published spec must not change: write a follow-up))",
    ]


def test_sc508_and_sc509_loader_manifest(published: Path) -> None:
    shown = (published / "migrations").as_posix()
    assert findings(lambda: schemac.load_migrations(published / "migrations", "postgresql")) == [
        f"{shown}/manifest.json:1:1: SC509 migrations are for sqlite, not postgresql"
    ]
    (published / "migrations" / "manifest.json").unlink()
    assert findings(lambda: schemac.load_migrations(published / "migrations")) == [
        f"{shown}/manifest.json:1:1: SC508 manifest.json is missing (hint: run 'schemac build' to write it)"
    ]


def test_sc510_published_spec_changed(published: Path) -> None:
    (published / "specs" / "0002_b.yaml").write_text(T.replace("  t:", "  b:") + KEYED, encoding="utf-8")
    schemac.build(published)
    (published / "specs" / "0001_a.yaml").write_text(T + KEYED + "      x: {type: text}\n", encoding="utf-8")
    assert findings(lambda: schemac.build(published)) == [
        "specs/0001_a.yaml:1:1: SC510 edited: spec changed after it was published as migrations/0001_a.sql (manifest "
        "entry for version 1) (hint: revert the spec and write a follow-up spec (schemac new <slug>); only the "
        "newest version may change, with build --amend)"
    ]


def test_sc511_a_published_version_rendered_differently_is_kept_with_a_warning(published: Path) -> None:
    before = {p.name: p.read_bytes() for p in (published / "migrations").iterdir()}
    override = published / "templates" / "sqlite" / "migration.sql.j2"
    override.parent.mkdir(parents=True)
    override.write_text("-- changed\n{% for s in statements %}{{ s }}\n{% endfor %}", encoding="utf-8")
    assert schemac.build(published).written == ()  # kept as published: nothing refused, nothing written
    assert {p.name: p.read_bytes() for p in (published / "migrations").iterdir()} == before
    report = schemac.check(published)
    assert report.ok
    assert [(d.diagnostic.severity, str(d.diagnostic)) for d in report.drift] == [
        (
            "warning",
            "migrations/0001_a.sql:1:1: SC511 kept as published: this schemac renders version 1 differently "
            "(schemac or a template changed since it was published) (hint: nothing to do; new versions use the new "
            "rendering, and build --amend renders this newest version again while it has not left your branch)",
        )
    ]
    schemac.build(published, amend=True)  # the newest version may change on purpose
    assert (published / "migrations" / "0001_a.sql").read_text(encoding="utf-8").startswith("-- changed\n")
    assert schemac.check(published).drift == ()


# --- SC7xx: settings -----------------------------------------------------------------------------

SETTINGS_ERRORS = [
    ("schemac.toml", "specs = \n", ["schemac.toml:1:9: SC701 invalid TOML: Invalid value (at line 1, column 9)"]),
    ("schemac.toml", 'audit = "none"\n', ["schemac.toml:1:1: SC702 audit must be a table: [audit]"]),
    (
        "schemac.toml",
        'specs = "specs"\n[auditt]\ndefault = "none"\n',
        ["schemac.toml:2:1: SC702 unknown setting 'auditt' (hint: did you mean 'audit'?)"],
    ),
    (
        "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.schemac.audit]\ndefault = "sometimes"\nextra = 1\n',
        [
            "pyproject.toml:5:1: SC702 audit default must be full, none, or a list of created/updated/deleted, "
            "not 'sometimes'",
            "pyproject.toml:6:1: SC702 unknown audit setting 'extra' (hint: the audit table takes: default, defaults)",
        ],
    ),
    (
        "schemac.toml",
        'dialects = ["oracle"]\n',
        ["schemac.toml:1:1: SC702 dialects must be a non-empty list of sqlite, postgresql, mariadb, not ['oracle']"],
    ),
    (
        "schemac.toml",
        "[audit]\ndefault = []\n",
        ["schemac.toml:2:1: SC702 audit default must be full, none, or a list of created/updated/deleted, not []"],
    ),
]


@pytest.mark.parametrize(("file", "text", "expected"), SETTINGS_ERRORS)
def test_settings_error(tmp_path: Path, file: str, text: str, expected: list[str]) -> None:
    project = project_with(tmp_path / "p", {"0001_a.yaml": T + KEYED})
    (project / file).write_text(text, encoding="utf-8")
    assert findings(lambda: schemac.build(project)) == expected
    assert not (project / "migrations").exists()
