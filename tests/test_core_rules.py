"""Rules of the core that guard against SQL a database would refuse or misread later.

Each case is one bad spec and its exact finding; the YAML 1.2 test pins how scalars resolve.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import schemac
from conftest import KEY_COLUMN as KEYED
from conftest import ONE_TABLE as T
from conftest import findings, project_with
from schemac.spec.source import load_document

RULES: dict[str, tuple[str, list[str]]] = {
    "primary key name too long": (
        "description: x\ntables:\n  " + "t" * 61 + ":\n    audit: none\n    columns:\n" + KEYED,
        [
            "specs/0001_a.yaml:3:3: SC303 generated primary key name 'pk_" + "t" * 61 + "' is 64 characters, over "
            "the limit of 63 (hint: use a table name of at most 60 characters)"
        ],
    ),
    "unique column name too long": (
        "description: x\ntables:\n  "
        + "t" * 30
        + ":\n    audit: none\n    columns:\n      "
        + "c" * 30
        + ": {type: text, unique: true}\n",
        [
            "specs/0001_a.yaml:6:7: SC303 generated name 'uq_" + "t" * 30 + "_" + "c" * 30 + "' is 64 characters, "
            "over the limit of 63 (hint: declare it under indexes: with unique: true and a shorter name:)"
        ],
    ),
    "enum check name too long": (
        "description: x\ntables:\n  "
        + "t" * 30
        + ":\n    audit: none\n    columns:\n      "
        + "c" * 25
        + ": {type: text, enum: [a]}\n",
        [
            "specs/0001_a.yaml:6:7: SC303 generated name 'ck_" + "t" * 30 + "_" + "c" * 25 + "_enum' is 64 "
            "characters, over the limit of 63 (hint: use a shorter table or column name)"
        ],
    ),
    "column foreign key name too long": (
        "description: x\ntables:\n  "
        + "t" * 30
        + ":\n    audit: none\n    columns:\n"
        + KEYED
        + "      "
        + "c" * 30
        + ": {type: integer, references: "
        + "t" * 30
        + ".id}\n",
        [
            "specs/0001_a.yaml:7:67: SC303 generated name 'fk_" + "t" * 30 + "_" + "c" * 30 + "' is 64 characters, "
            "over the limit of 63 (hint: declare it under foreign_keys: with a shorter name:)"
        ],
    ),
    "audit check name too long": (
        "description: x\ntables:\n  " + "t" * 50 + ":\n    audit: [deleted]\n    columns:\n" + KEYED,
        [
            "specs/0001_a.yaml:3:3: SC303 generated audit check name 'ck_" + "t" * 50 + "_deleted_by' is 64 "
            "characters, over the limit of 63 (hint: use a shorter table name)"
        ],
    ),
    "check named like an enum check": (
        T
        + "      status: {type: text, enum: [a]}\n    checks:\n      - {name: status_enum, expression: status <> ''}\n",
        [
            "specs/0001_a.yaml:8:41: SC304 constraint name 'ck_t_status_enum' of table 't' is used by both the enum "
            "check of column 'status' and a check (hint: rename one of them (a check is named ck_<table>_<name>))"
        ],
    ),
    "check named like an audit check": (
        T.replace("audit: none", "audit: [created]")
        + "      a: {type: text}\n    checks:\n      - {name: created_by, expression: a <> ''}\n",
        [
            "specs/0001_a.yaml:8:40: SC304 constraint name 'ck_t_created_by' of table 't' is used by both the created "
            "audit check and a check (hint: rename one of them (a check is named ck_<table>_<name>))"
        ],
    ),
    "column check named like a boolean check": (
        T + "      a: {type: boolean}\n      a_bool: {type: integer, check: a_bool > 0}\n",
        [
            "specs/0001_a.yaml:7:38: SC304 constraint name 'ck_t_a_bool' of table 't' is used by both the boolean "
            "check of column 'a' and a check (hint: rename one of them (a check is named ck_<table>_<name>))"
        ],
    ),
    "check named like a length check": (
        T + "      code: {type: string(8)}\n    checks:\n      - {name: code_length, expression: code <> ''}\n",
        [
            "specs/0001_a.yaml:8:41: SC304 constraint name 'ck_t_code_length' of table 't' is used by both the length "
            "check of column 'code' and a check (hint: rename one of them (a check is named ck_<table>_<name>))"
        ],
    ),
    "foreign key named like a check": (
        T
        + KEYED
        + "      p: {type: integer, nullable: true}\n    foreign_keys:\n"
        + "      - {name: ck_t_x, columns: [p], references: {table: t, columns: [id]}}\n"
        + "    checks:\n      - {name: x, expression: p > 0}\n",
        [
            "specs/0001_a.yaml:9:9: SC304 constraint name 'ck_t_x' of table 't' is used by both a check and a "
            "foreign key (hint: rename one of them (a check is named ck_<table>_<name>))"
        ],
    ),
    "table named like an index": (
        T + "      a: {type: text}\n    indexes:\n      - {columns: [a], name: u}\n"
        "  u:\n    audit: none\n    columns:\n      a: {type: text}\n",
        [
            "specs/0001_a.yaml:8:9: SC304 index name 'u' is already used by table 'u' "
            "(hint: give the index another name)"
        ],
    ),
    "table named like a primary key": (
        "description: x\ntables:\n  orders:\n    audit: none\n    columns:\n" + KEYED + "  pk_orders:\n"
        "    audit: none\n    columns:\n      a: {type: text}\n",
        [
            "specs/0001_a.yaml:3:3: SC304 primary key name 'pk_orders' of table 'orders' is already used by table "
            "'pk_orders' (hint: rename the table or the other object)"
        ],
    ),
    "set default without a default": (
        T + KEYED + "      p: {type: integer, references: t.id, on_delete: set default}\n",
        ["specs/0001_a.yaml:7:55: SC307 on_delete: set default needs column 'p' to have a default"],
    ),
    "set default on a composite key without a default": (
        T + KEYED + "      p: {type: integer}\n    foreign_keys:\n"
        "      - {columns: [p], references: {table: t, columns: [id]}, on_update: set default}\n",
        ["specs/0001_a.yaml:9:74: SC307 on_update: set default needs every key column to have a default"],
    ),
    "set null on a not-null column": (
        T + KEYED + "      p: {type: integer, references: t.id, on_delete: set null}\n",
        ["specs/0001_a.yaml:7:55: SC307 on_delete: set null needs column 'p' to be nullable: true"],
    ),
    "decimal beyond every database": (
        T + "      a: {type: 'decimal(66,2)'}\n",
        [
            "specs/0001_a.yaml:6:17: SC205 decimal(66,2) is too large: every supported database takes precision up to "
            "65 and scale up to 38"
        ],
    ),
    "decimal default with too many places": (
        T + "      a: {type: 'decimal(5,2)', default: 1.234}\n",
        ["specs/0001_a.yaml:6:42: SC308 default 1.234 has more than 2 decimal places for decimal(5,2)"],
    ),
    "decimal default with too many digits": (
        T + "      a: {type: 'decimal(5,2)', default: 1234}\n",
        ["specs/0001_a.yaml:6:42: SC308 default 1234 does not fit decimal(5,2)"],
    ),
    "unquoted decimal in a flow mapping": (
        T + "      a: {type: decimal(5,2)}\n",
        [
            "specs/0001_a.yaml:6:17: SC205 unknown type 'decimal(5' (hint: inside {...} a comma ends the value: quote "
            'the type, as in type: "decimal(12,2)")',
            "specs/0001_a.yaml:6:27: SC201 unknown key '2)' in tables.t.columns.a (hint: known keys: check, default, "
            "description, enum, identity, nullable, on_delete, on_update, primary_key, references, renamed_from, type, "
            "unique)",
        ],
    ),
    "string default longer than string(n)": (
        T + "      a: {type: string(3), default: abcd}\n",
        ["specs/0001_a.yaml:6:37: SC308 default 'abcd' is longer than string(3)"],
    ),
    "enum value longer than string(n)": (
        T + "      a: {type: string(3), enum: [abc, abcd]}\n",
        ["specs/0001_a.yaml:6:40: SC308 enum value 'abcd' is longer than string(3)"],
    ),
    "YAML integers in a text enum": (
        T + "      a: {type: text, enum: [1, b]}\n",
        ["specs/0001_a.yaml:6:30: SC308 enum value 1 must be a string for a text column (hint: quote it: '1')"],
    ),
    "integer enum value out of range": (
        T + "      a: {type: smallint, enum: [-32768, 32768]}\n",
        ["specs/0001_a.yaml:6:42: SC308 enum value 32768 is out of range for smallint"],
    ),
    "YAML words in an integer enum": (
        T + "      a: {type: integer, enum: [1, yes]}\n",
        ["specs/0001_a.yaml:6:36: SC308 enum value 'yes' must be an integer for an integer column"],
    ),
    "YAML booleans in an enum": (
        T + "      a: {type: text, enum: [on, true]}\n",
        ["specs/0001_a.yaml:6:34: SC202 tables.t.columns.a.enum[1] must be a string or an integer, not a boolean"],
    ),
    "yes is not a boolean default": (
        T + "      a: {type: boolean, default: yes}\n",
        ["specs/0001_a.yaml:6:35: SC308 default 'yes' must be true or false for a boolean column"],
    ),
    "infinity is not a real default": (
        T + "      a: {type: real, default: .inf}\n",
        ["specs/0001_a.yaml:6:32: SC308 default inf must be a number for a real column"],
    ),
    "integer default out of range": (
        T + "      a: {type: smallint, default: 32768}\n",
        ["specs/0001_a.yaml:6:36: SC308 default 32768 is out of range for smallint"],
    ),
    "non-deterministic function in a check": (
        T + "      at: {type: timestamp, check: \"at <= datetime('now')\"}\n",
        [
            "specs/0001_a.yaml:6:36: SC310 check of table 't' is not a valid expression over its columns: "
            "non-deterministic use of datetime() in a CHECK constraint (hint: use only this table's columns and SQL "
            "functions)"
        ],
    ),
    "non-deterministic function in a partial index": (
        T + "      a: {type: real}\n    indexes:\n      - {columns: [a], where: random() > 0}\n",
        [
            "specs/0001_a.yaml:8:31: SC310 index condition of table 't' is not a valid expression over its columns: "
            "non-deterministic functions prohibited in partial index WHERE clauses (hint: use only this table's "
            "columns and SQL functions)"
        ],
    ),
    "unknown function in an SQL default": (
        T + "      a: {type: text, default: {sql: nosuch()}}\n",
        [
            "specs/0001_a.yaml:6:38: SC310 default of table 't' is not a valid expression over its columns: no such "
            "function: nosuch (hint: use only this table's columns and SQL functions)"
        ],
    ),
    "bad item in an audit list": (
        T.replace("audit: none", "audit: [created, everything]") + KEYED,
        ["specs/0001_a.yaml:4:22: SC204 tables.t.audit[1] must be one of created, updated, deleted, not 'everything'"],
    ),
    "bad order of an index column": (
        T + KEYED + "    indexes:\n      - columns: [{name: id, order: down}]\n",
        ["specs/0001_a.yaml:8:37: SC204 tables.t.indexes[0].columns[0].order must be one of asc, desc, not 'down'"],
    ),
    "null default on a not-null column": (
        T + "      a: {type: text, default: null}\n",
        [
            "specs/0001_a.yaml:6:32: SC308 default is null but the column is not nullable (hint: add nullable: true "
            "or remove the default)"
        ],
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule(rule: str, tmp_path: Path) -> None:
    text, expected = RULES[rule]
    project = project_with(tmp_path, {"0001_a.yaml": text})
    assert findings(lambda: schemac.validate(project)) == expected


def test_scalars_resolve_by_the_yaml_1_2_core_schema() -> None:
    doc = load_document(
        b"a: [yes, no, on, off, y, No, true, True, FALSE, 0o17, 0x1F, 012, 1_000, 1e3, .5, -.inf, ~, null, "
        b"2026-01-31, +12, -3, '1', \"true\", 0.1e-2, !!str 12, !!int \"7\", '', 0b11, 1:20, .NaN]\nb:\n",
        "x.yaml",
    )
    *values, nan = doc.data["a"]
    assert values == [
        "yes", "no", "on", "off", "y", "No", True, True, False, 15, 31, 12, "1_000", 1000.0, 0.5, -math.inf,
        None, None, "2026-01-31", 12, -3, "1", "true", 0.001, "12", 7, "", "0b11", "1:20",
    ]  # fmt: skip
    assert [type(v) for v in values[6:9]] == [bool, bool, bool]
    assert math.isnan(nan)
    assert doc.data["b"] is None


def test_object_names_taken_by_an_earlier_version_name_their_owner(tmp_path: Path) -> None:
    first = (
        "description: x\ntables:\n  orders:\n    audit: none\n    columns:\n" + KEYED + "      status: {type: text}\n"
        "    indexes:\n      - {columns: [status], name: by_status}\n"
    )
    second = (
        "description: y\ntables:\n  pk_orders:\n    audit: none\n    columns:\n      a: {type: text}\n"
        "  later:\n    audit: none\n    columns:\n      a: {type: text}\n    indexes:\n"
        "      - {columns: [a], name: by_status}\n      - {columns: [a], name: orders}\n"
    )
    project = project_with(tmp_path, {"0001_a.yaml": first, "0002_b.yaml": second})
    assert findings(lambda: schemac.validate(project)) == [
        "specs/0002_b.yaml:3:3: SC304 table name 'pk_orders' is already used by the primary key of table 'orders' "
        "(hint: give the table another name)",
        "specs/0002_b.yaml:12:9: SC304 index name 'by_status' is already used by an index of table 'orders' "
        "(hint: give the index another name)",
        "specs/0002_b.yaml:13:9: SC304 index name 'orders' is already used by table 'orders' "
        "(hint: give the index another name)",
    ]
