"""The catalog of every code a finding can carry: what it means, an example, and how to fix it.

A finding prints as ``file:line:col: CODE message (hint: …)``. This module is the one list of
those codes, in code order: the documentation's error-code and lint-rule tables are generated
from it (``docs/hooks.py``), and the tests check that every code the sources emit is here and
that every entry here is emitted somewhere.

The text fields are Markdown, as the documentation shows them (names in backticks; a link is
relative to ``docs/``). The first digit of a code names its range (:data:`RANGES`); ``SC9xx`` are
the lint rules, whose severity is the default a project can change in ``[tool.schemac.lint]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Severity = Literal["error", "warning", "off"]


@dataclass(frozen=True)
class Code:
    """One code: ``SC`` and three digits."""

    code: str
    summary: str  # when a finding carries the code
    examples: tuple[str, ...]  # findings as printed (empty for the lint rules)
    fix: str
    severity: Severity = "error"  # for a lint rule, its default ("off": only when enabled)
    rule: str = ""  # a lint rule's name, which settings may use instead of its code


RANGES: Mapping[str, str] = MappingProxyType(
    {
        "SC1": "files and YAML",
        "SC2": "JSON Schema",
        "SC3": "meaning",
        "SC4": "evolution",
        "SC5": "published migrations and manifest",
        "SC6": "databases",
        "SC7": "settings",
        "SC8": "locks and IO",
        "SC9": "lint rules",
    }
)

_CODES = (
    Code(
        "SC100",
        "a spec, migration, manifest, template or settings file cannot be read, or is a directory",
        ("specs/0002_more.yaml:1:1: SC100 cannot read file: Is a directory",),
        "make it a readable file",
    ),
    Code(
        "SC101",
        (
            "a file over its limit (spec 5 MB, template and settings 1 MB, manifest and migration 256 MB); refused "
            "before parsing, and read no further than the limit whatever its size claims"
        ),
        ("SC101 file is 52428819 bytes, over the limit of 5242880 bytes",),
        "split it into several specs",
    ),
    Code(
        "SC102",
        "a spec is not UTF-8 (the position of the first bad byte)",
        ("SC102 file is not valid UTF-8 (byte 0xe9)",),
        "save it as UTF-8",
    ),
    Code(
        "SC103",
        "a spec starts with a byte-order mark",
        ("SC103 file starts with a UTF-8 byte-order mark",),
        "save it without a BOM",
    ),
    Code(
        "SC104",
        "YAML syntax error, a tab in indentation, or a character YAML forbids",
        ("SC104 tab character in indentation",),
        "fix the YAML at that place",
    ),
    Code(
        "SC105",
        "a key appears twice in one mapping, at any level",
        ("SC105 duplicate key 'status' (first defined at line 6)",),
        "keep one entry",
    ),
    Code(
        "SC106",
        "an anchor or alias (so no billion-laughs expansion)",
        ("SC106 YAML anchor 'a' is not allowed in a spec",),
        "write the value out",
    ),
    Code(
        "SC107",
        "a YAML tag (`!!python/…`, `!local`, `!!binary`), or a value that does not fit its core tag",
        ("SC107 YAML tag '!money' is not allowed in a spec",),
        "remove the tag",
    ),
    Code(
        "SC108",
        "the spec is empty, only comments, or not a mapping",
        ("SC108 spec is empty",),
        "write at least `description:`",
    ),
    Code(
        "SC109",
        "more than one YAML document in a file",
        ("SC109 file holds more than one YAML document",),
        "one spec per file",
    ),
    Code(
        "SC110",
        "a mapping key that is a list or a mapping",
        ("SC110 a mapping key must be a plain name, not a list",),
        "use a plain name",
    ),
    Code(
        "SC111",
        "the specs directory does not exist",
        ("SC111 specs directory 'schemas' does not exist",),
        "`schemac init`, or fix `specs` / `--project`",
    ),
    Code(
        "SC112",
        "a spec (or migration) file name is not `<version>_<slug>.yaml`",
        ("SC112 spec file name '0001_Orders.yaml' does not match <version>_<slug>.yaml",),
        "rename it: digits, `_`, `[a-z0-9_]+`, `.yaml`",
    ),
    Code(
        "SC113",
        "two specs share a version number",
        ("SC113 version 1 is already used by specs/0001_orders.yaml",),
        "`schemac new` picks the next free one",
    ),
    Code(
        "SC115",
        "mappings and lists nested more than 32 levels",
        ("SC115 mappings and lists are nested more than 32 levels deep",),
        "flatten the value",
    ),
    Code(
        "SC116",
        (
            "`new --from` names a table the specs do not have as of the newest spec, a table twice, or one written in "
            "a `{…}` mapping"
        ),
        ("--from:1:1: SC116 no table 'user' as of the newest spec (hint: tables: orders, users)",),
        "name tables the specs have, each once; write `tables:` in block style",
    ),
    Code(
        "SC117",
        (
            "a spec, migration, manifest, template or settings file is a FIFO, a device or a socket (or a symlink to "
            "one); it is never opened for reading"
        ),
        ("specs/0001_a.yaml:1:1: SC117 cannot read file: it is a character device, not a regular file",),
        "replace it with a regular file",
    ),
    Code(
        "SC118",
        (
            "a project file, or a directory written into, leads through a symlink outside the project; it is neither "
            "read nor written"
        ),
        (
            (
                "migrations/0001_a.sql:1:1: SC118 path leads outside the project (a symlink to a file elsewhere); it "
                "is not read"
            ),
        ),
        "keep the project's files inside its directory",
    ),
    Code(
        "SC119",
        (
            "a version above 9007199254740991 (2^53 - 1: what every engine's 64-bit integer and a JavaScript runner "
            "hold exactly)"
        ),
        ("SC119 version 100000000000000000000000000 is larger than 9007199254740991, …",),
        "number versions like `0001` or `2026112401`",
    ),
    Code(
        "SC201",
        "an unknown key, with the closest known one",
        ("SC201 unknown key 'nulable' in tables.orders.columns.total (hint: did you mean 'nullable'?)",),
        "use the suggested key",
    ),
    Code(
        "SC202",
        "a value of the wrong type",
        ("SC202 tables.orders.columns.total.nullable must be a boolean (true or false), not a string",),
        "give the type named",
    ),
    Code(
        "SC203",
        "a required key is missing",
        ("SC203 tables.orders.columns.total is missing the required key 'type'",),
        "add it",
    ),
    Code(
        "SC204",
        "a value outside its allowed set",
        ("SC204 …on_delete must be one of cascade, restrict, set null, set default, no action, not 'cascades'",),
        "use one of the listed values",
    ),
    Code(
        "SC205",
        "an unknown column type, a decimal scale over its precision, or a `decimal(p,s)` beyond `p ≤ 65`, `s ≤ 38`",
        ("SC205 unknown type 'varchar'",),
        "use a logical type (see the hint)",
    ),
    Code(
        "SC206",
        "`references` is not `table.column`",
        ("SC206 …references must be 'table.column', not 'customers'",),
        "write `table.column`",
    ),
    Code(
        "SC207",
        "an empty value where one is required (`tables: {}`, `description: ''`)",
        ("SC207 tables must not be empty",),
        "fill it in or remove the key",
    ),
    Code(
        "SC208",
        "a list names the same item twice",
        ("SC208 tables.orders.columns.state.enum lists the same item twice",),
        "remove the repeat",
    ),
    Code(
        "SC299",
        "any other JSON Schema finding",
        ("SC299 tables.orders: …",),
        "follow the message; the schema is `schema/spec.schema.json`",
    ),
    Code(
        "SC301",
        "a name that is not `[a-z_][a-z0-9_]*` (quotes, `;`, `--`, capitals…)",
        ("SC301 'to\"tal' is not a valid name: use lowercase letters, digits and _, not starting with a digit",),
        "rename it",
    ),
    Code(
        "SC302",
        "a word reserved by SQLite, PostgreSQL or MariaDB, or a name starting `sqlite_`",
        ("SC302 'select' is a reserved word in SQLite, PostgreSQL or MariaDB",),
        "choose another name",
    ),
    Code(
        "SC303",
        (
            "a name, or a generated index/check/key name (`pk_<table>` and the audit checks included), over 63 "
            "characters"
        ),
        ("SC303 generated name 'idx_…' is 75 characters, over the limit of 63",),
        "shorten it, or give an explicit `name:`",
    ),
    Code(
        "SC304",
        (
            "two indexes, checks or keys with the same name; a check or foreign key named like a derived "
            "`_enum`/`_bool`/`_length`/audit check; a table, index or primary key name already used in the schema"
        ),
        ("SC304 two indexes of table 'orders' are both named 'idx_orders_status'",),
        "give one an explicit `name:`",
    ),
    Code(
        "SC305",
        "a foreign key to a table that does not exist",
        ("SC305 foreign key fk_orders_customer_id references table 'customers', which does not exist",),
        "create the table first, or fix the name",
    ),
    Code(
        "SC306",
        "a column named by a key, index or foreign key does not exist, or `on_delete` without `references`",
        ("SC306 index column 'stauts' is not a column of table 'orders'",),
        "fix the column name",
    ),
    Code(
        "SC307",
        (
            "primary key misuse: two keys, a nullable key; `set null` on a NOT NULL column; `set default` on a NOT "
            "NULL column without a default"
        ),
        ("SC307 primary key column 'id' cannot be nullable",),
        "as the hint says",
    ),
    Code(
        "SC308",
        "a default or enum value that does not fit its column",
        ("SC308 default 'shipped' is not one of the enum values",),
        "change the value or the type",
    ),
    Code(
        "SC309",
        "an audit column written by hand",
        ("SC309 'created_at' is an audit column and is added by the compiler",),
        "remove it; use `audit:`",
    ),
    Code(
        "SC310",
        (
            "an expression that is not one expression over the table's own columns: `;`, comments (`--`, `/*`, `#`), "
            "`$`, a backslash, unbalanced `(`/`)`, a subquery, another table's column, an unknown function, or "
            "anything SQLite cannot compile where it stands"
        ),
        (
            (
                "SC310 check of table 'orders' is not a valid expression over its columns: no such column: "
                "customers.credit"
            ),
        ),
        "use only this table's columns and SQL functions",
    ),
    Code(
        "SC311",
        "foreign keys that form a cycle",
        ("SC311 circular foreign keys: a_items -> b_items -> c_items -> a_items",),
        "drop one key, or add it in a later spec",
    ),
    Code(
        "SC312",
        "a foreign key to columns that are neither the primary key nor unique",
        (
            (
                "SC312 foreign key fk_orders_email references customers(email), which is neither its primary key nor "
                "unique"
            ),
        ),
        "reference a key",
    ),
    Code(
        "SC313",
        "a foreign key column whose type differs from the referenced one",
        ("SC313 foreign key fk_orders_customer_id: column 'customer_id' is text but 'customers.id' is integer",),
        "give both the same type",
    ),
    Code(
        "SC314",
        "a control character (CR, NUL, ESC, …) in any text that could reach the SQL",
        ("SC314 tables.orders.columns.note.default contains the control character U+000D, …",),
        "remove it; tabs and newlines are allowed",
    ),
    Code(
        "SC315",
        (
            "an expression SQLite cannot check at build time within schemac's fixed limits: more than 1,000,000 "
            "SQLite steps, a string or blob (written or computed) over 1,000 bytes, a LIKE/GLOB pattern over 1,000 "
            "bytes, a `printf`/`format` width or precision over 1,000, or nesting deeper than SQLite compiles"
        ),
        (
            (
                "SC315 check of table 't' is too costly to check at build time: it holds or makes a string or blob "
                "longer than 1,000 bytes"
            ),
        ),
        "simplify the expression",
    ),
    Code(
        "SC316",
        (
            "`postgresql` is a target and PostgreSQL's own parser (libpg_query, offline) cannot read a check, "
            "partial-index `where` or `{sql: …}` default where it stands; a spec already published is not read again"
        ),
        (
            (
                "specs/0002_x.yaml:9:16: SC316 postgresql cannot parse check 'total >> > 0': syntax error at or near "
                '">" (at character 10 of the expression)'
            ),
        ),
        "write SQL that every configured dialect reads",
    ),
    Code(
        "SC317",
        (
            "an expression calls, without a schema, a function a target (`postgresql`, `mariadb`) does not have: one "
            "schemac's [function table](spec-reference.md#functions) lists for other engines only, or a name no "
            "engine has one letter away from one the target has (`nowz()`); for a spec not yet published"
        ),
        ("specs/0002_x.yaml:8:49: SC317 postgresql rejects default 'nowz()': function nowz() does not exist",),
        "use a function every configured dialect has; call a function of your own with its schema (`app.nowz()`)",
    ),
    Code(
        "SC318",
        (
            "`postgresql` is a target and an expression compares a `boolean` column with a number (`archived = 0`, "
            "`archived IN (0, 1)`): PostgreSQL has no `boolean = integer`; for a spec not yet published"
        ),
        (
            (
                "specs/0002_x.yaml:13:16: SC318 postgresql rejects partial index where 'archived = 0': operator does "
                "not exist: boolean = integer"
            ),
        ),
        "compare with `true` or `false` (`archived = false`, `NOT archived`), which every engine reads",
    ),
    Code(
        "SC319",
        (
            "`build` with a [dev database](spec-reference.md#dev-databases): the engine rejects an expression "
            "of a version not yet published (its own message follows the expression)"
        ),
        (
            (
                "specs/0002_x.yaml:8:33: SC319 postgresql rejects check 'n > now()': operator does not exist: "
                "integer > timestamp with time zone"
            ),
        ),
        "change the expression so that the engine takes it",
    ),
    Code(
        "SC320",
        "a partial unique index when `mariadb` is a target (MariaDB has no `CREATE INDEX … WHERE`)",
        (
            (
                "SC320 partial unique index 'uq_items_status' of table 'items' cannot be created: there is no CREATE "
                "INDEX ... WHERE on mariadb"
            ),
        ),
        "make it unique over all rows, or drop `mariadb` from `dialects`",
    ),
    Code(
        "SC321",
        "an expression with a double-quoted name when `mariadb` is a target (a string there)",
        ("SC321 expression of table 'items' uses a double-quoted name, which is a string on mariadb",),
        "write names unquoted",
    ),
    Code(
        "SC322",
        "a referential action the engine rejects (`set default` on MariaDB)",
        ("SC322 foreign key fk_items_parent_id: 'set default' is not supported on mariadb",),
        "use another action",
    ),
    Code(
        "SC323",
        (
            "a check (an enum, boolean, json or length check of the column, or a table check naming it) on a column "
            "of a foreign key whose action sets or cascades that column (`on_delete: set null`, `on_update: "
            "cascade`…) when `mariadb` is a target: MariaDB refuses it (error 1901)"
        ),
        (
            (
                "SC323 check 'ck_items_parent_id' of table 'items' names a column of foreign key fk_items_parent_id, "
                "whose on delete set null changes that column: the engine refuses such a check on mariadb"
            ),
        ),
        "drop the check or the enum, or use another referential action",
    ),
    Code(
        "SC324",
        (
            "a column whose type MariaDB cannot index in full (`json`, stored as LONGTEXT) in a primary key, index "
            "or foreign key when `mariadb` is a target: MariaDB refuses the key (error 1071)"
        ),
        (
            "SC324 index 'idx_docs_title_body' of table 'docs' holds json column 'body', which cannot be indexed in "
            "full on mariadb",
        ),
        "leave the column out of keys and indexes, or remove `mariadb` from dialects",
    ),
    Code(
        "SC325",
        (
            "`identity: true` on a column that is not the table's single-column primary key, or that is not "
            "`integer`/`bigint`, is nullable, or has a default or an enum"
        ),
        (
            (
                "specs/0001_init.yaml:6:41: SC325 identity column 'orders.id' is text, not integer or bigint: "
                "identity is for a single-column integer or bigint primary key"
            ),
        ),
        "put `identity: true` on the single `integer` or `bigint` primary key only, without default or enum",
    ),
    Code(
        "SC403",
        (
            "a destructive change without `allow_destructive: true` (drop table or column, narrowed type, NOT NULL "
            "without a default)"
        ),
        ("SC403 destructive change refused: drop column orders.note",),
        (
            "write `allow_destructive: true` in the spec, or keep the data; a spec that leaves out most of a table's "
            "columns likely lists only what changes: a spec lists each table's whole shape (`schemac new SLUG --from "
            "TABLE` starts from the current one)"
        ),
    ),
    Code(
        "SC404",
        "`renamed_from` names a table or column that does not exist",
        ("SC404 table 'orders' is renamed from 'order', which does not exist",),
        "fix the old name",
    ),
    Code(
        "SC405",
        (
            "two renames from one source, a rename onto an existing name, or a renamed column whose old name is still "
            "listed"
        ),
        ("SC405 tables 'a' and 'b' are both renamed from 'c'",),
        "keep one rename",
    ),
    Code(
        "SC406",
        "a table both dropped and listed in the same spec",
        ("SC406 table 'orders' is both dropped and listed",),
        "do one or the other",
    ),
    Code(
        "SC407",
        "`drop_tables` names a table that does not exist",
        ("SC407 drop_tables names 'order', which does not exist",),
        "fix the name",
    ),
    Code(
        "SC408",
        "dropping a table that another table still references",
        ("SC408 table 'customers' cannot be dropped: orders still reference it",),
        "drop or change the referencing key first",
    ),
    Code(
        "SC409",
        "a dialect has no template for a change",
        ("SC409 mariadb cannot express this change: …",),
        "express the change differently, or add a template override",
    ),
    Code(
        "SC410",
        (
            "a template override has a syntax error, does what the sandbox refuses (an attribute, a global, `**`, a "
            "path in `{% include %}`), uses an undefined name, or goes over a rendering limit (at its line; see "
            "[Templates](dialects.md#templates))"
        ),
        ("templates/sqlite/create_table.sql.j2:3:1: SC410 undefined in a template: 'colums' is undefined",),
        "use only what templates are given, or lay the text out more simply",
    ),
    Code(
        "SC501",
        "a published migration was edited (its SHA-256 no longer matches the manifest)",
        ("migrations/0001_orders.sql:1:1: SC501 edited: file differs from its SHA-256 in the manifest",),
        "restore it; change the schema with a follow-up spec",
    ),
    Code(
        "SC502",
        "a published migration, or its spec, was removed",
        (
            "migrations/0002_items.sql:1:1: SC502 removed: published migration is missing",
            (
                "specs/0002_items.yaml:1:1: SC502 removed: spec of published migration migrations/0002_items.sql was "
                "removed"
            ),
        ),
        "restore it from version control",
    ),
    Code(
        "SC503",
        "a `.sql` file no spec produces",
        ("migrations/0009_extra.sql:1:1: SC503 added: migration file is not produced by any spec",),
        "remove it, or add its spec",
    ),
    Code(
        "SC504",
        "the manifest is not UTF-8 JSON",
        ("migrations/manifest.json:3:3: SC504 manifest is not valid JSON: Expecting ',' delimiter",),
        "restore it from version control (rebuilding without it would not know what was published)",
    ),
    Code(
        "SC505",
        (
            "the manifest lacks a key, has a mistyped one, an unknown format, or an entry whose `file` is not "
            "`<version>_<slug>.sql` of its own version"
        ),
        ("SC505 manifest is missing the key 'dialect'",),
        "restore it from version control (rebuilding without it would not know what was published)",
    ),
    Code(
        "SC506",
        "the manifest's chain does not match its per-file hashes",
        ("SC506 manifest chain does not match its files: the manifest was edited by hand",),
        "restore it from version control (rebuilding without it would not know what was published)",
    ),
    Code(
        "SC507",
        "`check`: a file the specs produce is missing or out of date",
        ("SC507 missing: the specs produce this file but it was not built",),
        "run `schemac build`",
    ),
    Code(
        "SC508",
        "the loader finds no `manifest.json`",
        ("SC508 manifest.json is missing",),
        "run `schemac build`",
    ),
    Code(
        "SC509",
        "the loader was asked for another dialect than the manifest's",
        ("SC509 migrations are for sqlite, not postgresql",),
        "load the right directory",
    ),
    Code(
        "SC510",
        "a published spec changed",
        (
            (
                "specs/0001_orders.yaml:1:1: SC510 edited: spec changed after it was published as "
                "migrations/0001_orders.sql (manifest entry for version 1)"
            ),
        ),
        (
            "revert it; write a follow-up spec (or `build --amend` for the newest; `build --amend VERSION --reason "
            "TEXT` for a version no database has applied)"
        ),
    ),
    Code(
        "SC511",
        (
            "warning from `check`: a published version is kept as published although this schemac renders it "
            "differently (schemac or a template changed)"
        ),
        (
            (
                "migrations/0001_a.sql:1:1: SC511 kept as published: this schemac renders version 1 differently "
                "(schemac or a template changed since it was published)"
            ),
        ),
        "nothing to do; `build --amend` renders the newest again while it has not left your branch",
        severity="warning",
    ),
    Code(
        "SC512",
        "`check --base`: a version published at the base ref was removed",
        ("SC512 … was published at origin/main and is removed",),
        "restore it; write a follow-up spec",
    ),
    Code(
        "SC513",
        "`check --base`: a version published at the base ref was changed",
        ("SC513 … was changed since origin/main",),
        "restore it from the base",
    ),
    Code(
        "SC514",
        "`check --base`: published versions are in another order than at the base",
        ("SC514 published versions are in another order than at origin/main",),
        "restore the order",
    ),
    Code(
        "SC515",
        (
            "a new version is numbered at or below the newest published one: `build` refuses it against the "
            "manifest, `check --base` reports it against the base's (two branches both added one)"
        ),
        (
            (
                "specs/0003_late.yaml:1:1: SC515 version 3 (0003_late.sql) is new but numbered at or below the newest "
                "published version 5"
            ),
            (
                "migrations/manifest.json:1:1: SC515 version 2 (0002_b.sql) is new but numbered at or below "
                "origin/main's newest version 2 (another branch added versions)"
            ),
        ),
        "renumber the spec above the newest published version (`schemac new` picks the next free one), and rebuild",
    ),
    Code(
        "SC516",
        "`check --base` or `rebase` outside a git repository (or git missing or not answering)",
        ("SC516 '/tmp/p' is not inside a git repository",),
        "run it in a git checkout",
    ),
    Code(
        "SC517",
        "`check --base` or `rebase --onto` with a ref that names no commit (or `rebase` finds no base)",
        ("SC517 git ref 'origin/mian' does not name a commit",),
        "fetch it, or fix the ref",
    ),
    Code(
        "SC518",
        (
            "a dialect's migrations lie in the other layout (`migrations/` against `migrations/<dialect>/`) after the "
            "number of dialects changed; `build` refuses only a copy that differs from the new place"
        ),
        (
            (
                "migrations/manifest.json:1:1: SC518 stale layout: sqlite migrations are published here, but with 2 "
                "dialects they belong in migrations/sqlite/"
            ),
        ),
        "run `schemac build` (it moves them unchanged); for a differing copy, remove the set you do not publish",
    ),
    Code(
        "SC520",
        "an adopted hand-written migration file differs from the SHA-256 that `schemac adopt` recorded",
        (
            (
                "migrations/013_backfill_section_records.sql:1:1: SC520 edited: adopted hand-written file differs "
                "from the SHA-256 that schemac adopt recorded"
            ),
        ),
        "restore it from version control; change data with a raw SQL step and the schema with a follow-up spec",
    ),
    Code(
        "SC521",
        "an adopted hand-written migration file is gone",
        ("migrations/005_template_catalog.sql:1:1: SC521 removed: adopted hand-written file is missing",),
        "restore it from version control",
    ),
    Code(
        "SC522",
        (
            "`schemac adopt` cannot record a file: its name is not `<version>_<name>.sql` (name in letters, digits, "
            "`_`, `-`, `.`), its version is another file's (`001_` and `0001_`), or it is numbered at or below "
            "what the manifest already records"
        ),
        (
            (
                "migrations/0001_other.sql:1:1: SC522 cannot adopt: version 1 is also the version of "
                "001_initial_schema.sql: a runner's history holds one file per version, so one of them would never run"
            ),
        ),
        "rename the file before any database has applied it, or write new SQL as a raw SQL step in `specs/`",
    ),
    Code(
        "SC524",
        "a raw SQL step (`specs/<version>_<slug>.sql`) changes the schema when run in the scratch SQLite database",
        (
            (
                "specs/20251112_streaming_template.sql:1:1: SC524 raw SQL step changes the schema: it creates "
                "table 'extra'"
            ),
        ),
        "change the schema in a YAML spec; a raw SQL step only changes rows",
    ),
    Code(
        "SC525",
        (
            "a statement fails in the scratch SQLite database that `build` and `check` replay an adopted "
            "project's migrations in, or does what a migration may not: `ATTACH`/`DETACH`, `VACUUM`, a "
            "transaction statement, `load_extension()` or `fts3_tokenizer()`, a virtual table other than FTS or "
            "R*Tree, a pragma that reaches outside the database or lifts a limit; or the file holds a NUL "
            "character. An error for a version not published yet, a warning for one already published"
        ),
        (
            (
                "specs/20251112_backfill.sql:7:3: SC525 cannot run this statement in a scratch SQLite database: "
                "no such table: missing"
            ),
        ),
        "fix the statement; leave transactions to the runner, and keep migrations to the database they run on",
    ),
    Code(
        "SC526",
        (
            "a new generated version creates (`CREATE TABLE IF NOT EXISTS`) a table that an adopted file "
            "already made: the statement would skip it and leave the table as it is"
        ),
        (
            (
                "specs/0002_docs.yaml:1:1: SC526 table 'documents' already exists after the adopted files "
                "(001_initial.sql made it): 0002_docs.sql would skip its CREATE TABLE IF NOT EXISTS and leave the "
                "table as it is"
            ),
        ),
        "describe the table in a baseline spec (`baseline: true`) and change it in a later spec",
    ),
    Code(
        "SC527",
        (
            "a baseline spec that is not the first spec, that renames, drops or sets `audit:`, that is numbered "
            "below an adopted file, or that is added after versions were published"
        ),
        (
            (
                "specs/0003_baseline.yaml:2:11: SC527 a baseline spec must be the first spec: it is the schema "
                "every later spec starts from"
            ),
        ),
        "make the baseline the first spec, numbered at or above the newest adopted file, describing tables as they are",
    ),
    Code(
        "SC528",
        (
            "replaying the migrations in the scratch SQLite database hits a limit: 200,000,000 SQLite steps for "
            "the whole history, 512 MiB of database (and of temporary database), 1 MiB per string, blob or row, "
            "16 MiB per statement, expressions 1,000 deep, LIKE and GLOB patterns of 1,000 bytes, 1 GiB of "
            "SQLite memory, 300 seconds in all"
        ),
        (
            (
                "specs/20251112_seed.sql:2:1: SC528 cannot run this statement in a scratch SQLite database: it "
                "takes more than 200,000,000 SQLite steps"
            ),
        ),
        "keep bulk data and heavy queries out of migrations",
    ),
    Code(
        "SC530",
        (
            "the manifest records that audit defaults took effect at a version, and the settings turn them off "
            "(`[tool.schemac.audit] defaults`): published migrations made the change, so it stays"
        ),
        (
            (
                "pyproject.toml:5:1: SC530 audit defaults took effect at version 2 (migrations/manifest.json "
                "records it) and cannot be turned off: published migrations gave created_at and updated_at their "
                "defaults"
            ),
        ),
        "set `defaults = true` under `[tool.schemac.audit]` again",
    ),
    Code(
        "SC531",
        (
            "`build --amend VERSION` names a version the manifests do not list as published, or the specs give "
            "that version and every later one as published (nothing to amend)"
        ),
        (
            (
                "specs/0003_index.yaml:1:1: SC531 build --amend 3: the specs give version 3 and every later one "
                "as published: nothing to amend"
            ),
        ),
        "correct the spec of the version first; a new version is built without `--amend`",
    ),
    Code(
        "SC532",
        "`build --amend VERSION` without `--reason`, or with one that is not one printable line of at most 500 "
        "characters: the manifest records why",
        (
            (
                "specs/0003_index.yaml:1:1: SC532 build --amend 3 has no --reason: the manifest records why each "
                "published version was amended"
            ),
        ),
        "add `--reason 'why the published file must change'`",
    ),
    Code(
        "SC533",
        (
            "`build --amend VERSION`: a known database (an environment, `SCHEMAC_DB`, a `--db`) has applied a file "
            "the amend changes, or a later version"
        ),
        (
            (
                "schemac.toml:3:1: SC533 environment 'production' has applied version 3, and build --amend 3 "
                "changes its file 0003_index.sql"
            ),
        ),
        "leave the published file as it is and change the schema with a follow-up spec",
    ),
    Code(
        "SC534",
        (
            "`build --amend VERSION`: a known database cannot be asked what it has applied (unreachable, its "
            "environment's variable is not set, or its literal URL in the settings names another machine and the "
            "command line does not name it), no database of an engine whose files change is known, or "
            "`--unverified-env` or `--ask-env` names no environment"
        ),
        (
            (
                "schemac.toml:5:1: SC534 environment 'staging' reads its database from $STAGING_DB, which is not "
                "set, so whether it has applied version 3 or a later one cannot be told"
            ),
        ),
        "make it reachable, or, for an environment that cannot have applied the version, name it with "
        "`--unverified-env NAME`; name your own remote environment with `--ask-env NAME`; with no database of "
        "the engine, give one with `--db` or, if none has applied the version, add `--no-known-database`",
    ),
    Code(
        "SC535",
        (
            "`rebase`: a spec that the base published differs in the working tree (edited, or left with conflict "
            "markers); rebase renumbers only this branch's new specs and changes nothing"
        ),
        (
            (
                "specs/0007_add_tags.yaml:1:1: SC535 was published at main and differs here: rebase never changes "
                "what the base published"
            ),
        ),
        "restore it from the base (`git checkout main -- specs/0007_add_tags.yaml`) and put the change in a new spec",
    ),
    Code(
        "SC536",
        (
            "`rebase` took the base's migrations and renumbered the specs, then the build failed (its findings "
            "come with this one)"
        ),
        (
            (
                "specs:1:1: SC536 took the migrations main published; moved specs/0007_add_notes.yaml -> "
                "specs/0008_add_notes.yaml; then the build failed"
            ),
        ),
        "fix the build's findings and run `schemac build` (or `schemac rebase` again)",
    ),
    Code(
        "SC537",
        (
            "`check --base REF`: a published file was amended (`build --amend VERSION`) since the ref; the "
            "manifest's record of it proves nothing, so it is an error, and a warning with `--allow-amendments`"
        ),
        (
            (
                "migrations/manifest.json:1:1: SC537 version 3 (0003_index.sql) was amended since origin/main, for "
                "the reason 'archived = 0 fails on PostgreSQL' (databases asked: production; unverified: none)"
            ),
        ),
        "make sure no database has applied the version, then run `check --base REF --allow-amendments`",
    ),
    Code(
        "SC590",
        "`docs --check`: the data dictionary is missing or differs from what the specs give",
        ("docs/schema.md:1:1: SC590 data dictionary is out of date: the specs give different content",),
        "run `schemac docs`",
    ),
    Code(
        "SC601",
        (
            "`--db` is empty, or not a SQLite path or a `sqlite:`, `postgresql:`, `mariadb:`/`mysql:` URL (or lacks a "
            "path or database), or a server URL has an `@` after its host, a `%` that starts no `%XX` escape, or "
            "(MariaDB) a bad host or port"
        ),
        ("ftp://host/db:1:1: SC601 unsupported database URL scheme 'ftp'",),
        "use a supported URL",
    ),
    Code(
        "SC602",
        (
            "`apply`/`status`: an applied (or, on MariaDB, partly applied) version's file has another SHA-256 than "
            "the one recorded"
        ),
        (
            (
                "migrations/0002_orders.sql:1:1: SC602 changed: version 2 was applied to app.db with SHA-256 4f1c…, "
                "the file now has another"
            ),
        ),
        "restore the file; change the schema with a follow-up spec",
    ),
    Code(
        "SC603",
        "`apply`/`status`: the database has a version no migration file has",
        ("app.db:1:1: SC603 unknown: version 99 (orders) is applied but has no migration file",),
        "update your checkout",
    ),
    Code(
        "SC604",
        (
            "a migration statement failed on the database (at the statement's line), or a pending file holds a NUL "
            "character (at it; nothing runs); `status`: a run left the version part-way (MariaDB), at the statement "
            "the next `apply` resumes at"
        ),
        ("migrations/0002_orders.sql:17:1: SC604 migration failed on postgresql: …",),
        "fix the cause and rerun",
    ),
    Code(
        "SC605",
        "SQLite: `PRAGMA foreign_key_check` found violations after a migration; it was rolled back",
        (
            (
                "SC605 foreign key violations after this migration: row 1 of 'order_lines' references a missing row "
                "of 'products'"
            ),
        ),
        "fix the rows, then rerun",
    ),
    Code(
        "SC606",
        (
            "the database cannot be opened or reached; `status`/`verify`: the SQLite file does not exist (only "
            "`apply` creates one)"
        ),
        ("postgresql://app:***@db/app:1:1: SC606 cannot connect: connection refused …",),
        "check the URL and the server",
    ),
    Code(
        "SC607",
        "the engine's driver is not installed",
        ("SC607 the postgresql driver is not installed (hint: pip install 'schemac[postgresql]')",),
        "install the extra",
    ),
    Code(
        "SC608",
        (
            "another applier held the migration lock longer than `--lock-timeout`, or another connection kept a "
            "SQLite file locked past it at any statement"
        ),
        ("SC608 another schemac apply held the migration lock for 300 s",),
        "wait, or raise `--lock-timeout`",
    ),
    Code(
        "SC609",
        (
            "`apply --to` names a version that has no migration, or (exit 1) one below the version the database is "
            "at: apply never goes backwards"
        ),
        (
            "SC609 --to 7: there is no migration with version 7",
            "app.db:1:1: SC609 --to 1 is below version 2, where app.db is: apply never goes backwards",
        ),
        "pick a listed version; to undo a version, write a follow-up spec that changes the schema back",
    ),
    Code(
        "SC610",
        "the project builds no migrations for the URL's engine",
        ("schemac.toml:1:1: SC610 the project builds no mariadb migrations (dialects: sqlite)",),
        "add the dialect and build",
    ),
    Code(
        "SC611",
        (
            "`apply`/`status`: a pending version is below the newest applied one (its history row was deleted, or it "
            "merged late); `apply` runs nothing"
        ),
        ("migrations/0002_orders.sql:1:1: SC611 version 2 is pending but app.db is already at version 3",),
        "restore the history row, or run `apply --out-of-order`",
    ),
    Code(
        "SC612",
        (
            "`apply`/`status`/`verify`: `schemac_history` or `schemac_progress` holds a row schemac cannot have "
            "written, or (MariaDB) the schema changed since a run recorded its progress in a way no statement of the "
            "version explains; `apply` runs nothing"
        ),
        ("app.db:1:1: SC612 schemac_history holds a row where version is 'abc', not an integer",),
        "check the database, then correct or remove the row as the hint says",
    ),
    Code(
        "SC613",
        (
            "`baseline`: schemac's tables in the database already record a version (or, on MariaDB, a run "
            "part-way): schemac manages it; nothing is recorded"
        ),
        (
            (
                "app.db:1:1: SC613 baseline refused: app.db is already managed by schemac (schemac_history records "
                "4 applied versions, the newest 20251014)"
            ),
        ),
        "use `schemac status` and `schemac apply`",
    ),
    Code(
        "SC614",
        (
            "`baseline`: no `--version` and the manifest records no adopted file and no baseline spec, or "
            "`--version` names no migration file and not the baseline spec"
        ),
        (
            (
                "migrations:1:1: SC614 --version 12: no migration file and no baseline spec has version 12 (the "
                "versions: 1, 13, 20251013, 20251014)"
            ),
        ),
        "pass the version of the newest migration file whose changes the database holds",
    ),
    Code(
        "SC615",
        (
            "`import`: an object a spec cannot express (a view, trigger, virtual table, generated column, expression "
            "index, unnamed check, check not named `ck_<table>_<name>`, policy, …) is not imported, or an object is "
            "imported without what a spec cannot say (a serial column as a plain column, a table option left out), "
            "and the warning says how. A warning; an error with `--strict`, which then writes nothing"
        ),
        (
            (
                "app.db:1:1: SC615 view 'open_orders' is not imported: a spec cannot express a view (hint: it stays in "
                "the database as it is; schemac neither makes nor verifies it)"
            ),
        ),
        "keep the object outside schemac (it stays in the database), or change it into something a spec expresses",
    ),
    Code(
        "SC616",
        (
            "`import` without `--baseline`: a table has audit columns that no audit policy adds (other names, types, "
            "nullability, defaults or checks), or a primary key column that can hold NULL: only a baseline spec "
            "describes such a table"
        ),
        (
            (
                "app.db:1:1: SC616 table 'documents' can only be described by a baseline spec: its primary key "
                "column id can hold NULL"
            ),
        ),
        "import with `--baseline`, or leave the table out with `--tables`",
    ),
    Code(
        "SC617",
        (
            "`import`: a column's engine type is none that a logical type gives on that engine (SQLite "
            "`VARCHAR(40)`), so it is imported as the nearest logical type and `verify` will see another type. A "
            "warning; an error with `--strict`"
        ),
        (
            (
                "app.db:1:1: SC617 column 'notes.title' is varchar(40), which no logical type gives on sqlite: "
                "imported as string(40)"
            ),
        ),
        "change the column to the engine's type for its logical type, or accept the difference",
    ),
    Code(
        "SC618",
        (
            "`import`: bad input: not exactly one of `--db` and `--from-sql`; a `--from-sql` directory that is "
            "missing, holds no `.sql` file, or a file not named `<version>_<name>.sql` or sharing its version; "
            "`--tables` naming a table the database lacks or `ignore_tables` names; a table referencing one not "
            "imported; no table; `--baseline` in a project that has a spec; a spec file that exists"
        ),
        (
            "app.db:1:1: SC618 --tables: cannot import 'invoices': it has no such table",
            "app.db:1:1: SC618 table 'orders' references 'accounts', which is not imported",
        ),
        "correct the command (`--tables`, `--slug`) or the project",
    ),
    Code(
        "SC619",
        (
            "`import`: the spec it would write does not compile with the project (followed by the findings, at the "
            "lines of the spec it would have written): nothing is written"
        ),
        (
            (
                "specs/0001_import.yaml:1:1: SC619 the imported spec would not compile (1 finding below): nothing "
                "was written"
            ),
        ),
        "fix the database or the project's other specs, or leave the tables concerned out with `--tables`",
    ),
    Code(
        "SC620",
        "`verify`: a table of the specs is missing from the database",
        ("specs/0001_orders.yaml:3:3: SC620 missing table 'orders': in the specs, not in the database",),
        "apply, or find who dropped it",
    ),
    Code(
        "SC621",
        "`verify`: a table in the database the specs do not have",
        ("app.db:1:1: SC621 extra table 'stray': in the database, not in the specs",),
        "drop it, or add it to a spec",
    ),
    Code(
        "SC622",
        "`verify`: a missing or extra column",
        ("SC622 extra column 'orders.note': in the database, not in the specs",),
        "align the database or the specs",
    ),
    Code(
        "SC623",
        "`verify`: a column's type, nullability or default differs",
        ("SC623 column 'orders.coupon' is NOT NULL, the specs give NULL",),
        "align the database or the specs",
    ),
    Code(
        "SC624",
        "`verify`: the primary key, or an index, is missing, extra or different",
        ("SC624 missing index 'idx_orders_status' on 'orders'",),
        "align the database or the specs",
    ),
    Code(
        "SC625",
        "`verify`: a foreign key is missing, extra or different",
        ("SC625 missing foreign key 'fk_order_lines_sku' on 'order_lines'",),
        "align the database or the specs",
    ),
    Code(
        "SC626",
        "`verify`: a check constraint is missing or extra, or its body (as the engine shows it) differs",
        (
            "SC626 missing check 'ck_products_title_not_blank' on 'products'",
            (
                "SC626 check 'ck_items_quantity' on 'items' is CHECK ((quantity >= '-1'::integer)), the specs give "
                "CHECK ((quantity >= 0))"
            ),
        ),
        "align the database or the specs",
    ),
    Code(
        "SC630",
        (
            "`apply` on PostgreSQL: a step of a lock-safe migration gave up waiting for a lock (`lock_timeout`) on "
            "its first try and on each of the `--lock-retries` tries after it (each after a longer pause); the "
            "steps before it stay applied, and the next run goes on from it"
        ),
        (
            (
                "migrations/0002_v2.sql:8:1: SC630 gave up waiting for a lock on postgresql 2 times: canceling "
                "statement due to lock timeout"
            ),
        ),
        (
            "find the transaction that holds a lock on the table (`pg_locks`, `pg_stat_activity`) and let it end, "
            "then rerun `apply`; or pass a larger `--lock-retries`. See "
            "[Production PostgreSQL](production-postgresql.md)"
        ),
    ),
    Code(
        "SC635",
        (
            "`apply`, `baseline` on a MariaDB Galera node whose `wsrep_OSU_method` is not `TOI`: DDL would change "
            "that node alone (rolling schema upgrade), and the cluster's nodes would differ"
        ),
        (
            (
                "mariadb://app:***@db1/app:1:1: SC635 galera: wsrep_OSU_method is RSU, so DDL would change this node "
                "alone, not the cluster"
            ),
        ),
        "set it back to `TOI`, the default: `SET GLOBAL wsrep_OSU_method = 'TOI'`",
    ),
    Code(
        "SC636",
        (
            "`apply`, `baseline` on a MariaDB Galera node that is not a ready member of the cluster's primary "
            "component (`wsrep_ready` is not `ON`, or `wsrep_cluster_status` is not `Primary`)"
        ),
        (
            (
                "mariadb://app:***@db3/app:1:1: SC636 galera: this node is not ready to apply (wsrep_ready = OFF, "
                "cluster status non-Primary)"
            ),
        ),
        "apply through a node of the primary component, or bring this one back into it",
    ),
    Code(
        "SC637",
        (
            "`apply` on a MariaDB Galera cluster whose migration lock may no longer be its own: its lease could "
            "not be renewed for a whole lease, or another applier took the lock over; the run stops before the "
            "next statement or commit"
        ),
        (
            (
                "migrations/0002_orders.sql:5:1: SC637 galera: the migration lock's lease could not be renewed "
                "for 30 s, so another applier may take the lock over ((2013, 'Lost connection to MySQL server during "
                "query (timed out)'))"
            ),
        ),
        (
            "what ran before stays applied: check the connection to the node, then rerun `apply`, which resumes "
            "at the statement named. See [MariaDB Galera](galera.md#the-lock)"
        ),
    ),
    Code(
        "SC640",
        (
            "`apply` or `baseline` pointed at a read-only standby (PostgreSQL in recovery): refused before it "
            "locks, creates or changes anything"
        ),
        (
            (
                "postgresql://app@standby/app:1:1: SC640 apply refused: postgresql://app@standby/app is a read-only "
                "standby (it replays its primary's log); point apply at the primary"
            ),
        ),
        (
            "run it against the primary; the standby receives the changes by replication (check it with "
            "`verify --wait-for-replay SECONDS`, see [Standbys](applying.md#standbys))"
        ),
    ),
    Code(
        "SC641",
        "`verify --wait-for-replay SECONDS`: the standby did not catch up in time (exit 1)",
        (
            (
                "postgresql://app@standby/app:1:1: SC641 --wait-for-replay 30: postgresql://app@standby/app did not "
                "replay up to 0/3000148, where the primary's log was when the wait started, in time; standby: replay "
                "lag 4.2 s (received 0/3000148, replayed 0/3000060, 232 bytes to replay)"
            ),
        ),
        (
            "check the replication (`pg_stat_wal_receiver` on the standby, `pg_stat_replication` on the primary), "
            "or wait longer"
        ),
    ),
    Code(
        "SC642",
        "`verify --primary URL`: the URL is not the standby's primary (another cluster, or another engine)",
        (
            (
                "postgresql://app@other/app:1:1: SC642 --primary postgresql://app@other/app is not the primary of "
                "postgresql://app@standby/app: its cluster is 7446012309457183210, the standby's 7446012151245107231"
            ),
        ),
        "pass the URL of the server the standby replicates from (`primary_conninfo` in its settings)",
    ),
    Code(
        "SC643",
        (
            "`verify`: check bodies and column defaults were not compared, since no session could create the "
            "temporary table in which the engine words them (a standby verified without `--primary`, a read-only "
            "session, no `TEMPORARY` privilege); everything else was. A warning: alone, `verify` still exits 0. "
            "`import`: likewise, each was read as the catalog shows it, so a check schemac derives or an audit "
            "check may not be recognised"
        ),
        (
            (
                "postgresql://app@standby/app:1:1: SC643 check bodies and defaults not compared: "
                "postgresql://app@standby/app is a standby, which cannot create the temporary table in which the "
                "engine words them"
            ),
        ),
        (
            "on a standby pass `--primary URL`, its primary, to compare them in a session there (see "
            "[Standbys](applying.md#standbys)); elsewhere verify with a role that may create temporary tables, in a "
            "session that is not read-only"
        ),
    ),
    Code(
        "SC645",
        (
            "`apply` on MariaDB: the server refused to make a change online as its statement asks (`ALGORITHM=…`, "
            "`LOCK=NONE`, error 1845 or 1846): it could only copy or lock the table, blocking writes; the statements "
            "before it stay applied (see [MariaDB online DDL](dialects.md#mariadb-online-ddl))"
        ),
        (
            (
                "migrations/0002_changes.sql:13:1: SC645 mariadb refused to make statement 6 online as it asks "
                "(ALGORITHM=INPLACE, LOCK=NONE): LOCK=NONE is not supported. Reason: Fulltext index creation "
                "requires a lock. Try LOCK=SHARED"
            ),
        ),
        (
            "remove what the server's reason names (a FULLTEXT index, say) and rerun `apply`, or in a quiet hour run "
            "the statement without its `ALGORITHM` and `LOCK` options, record it in `schemac_progress` as the hint "
            "says, and rerun `apply`; `[tool.schemac.mariadb] online = false` writes later versions without them"
        ),
    ),
    Code(
        "SC701",
        "settings are not valid TOML",
        ("schemac.toml:2:1: SC701 invalid TOML: Invalid value (at line 2, column 13)",),
        "fix the TOML",
    ),
    Code(
        "SC702",
        (
            "an unknown or invalid setting, a path setting holding a control character, or a `dev_databases` entry "
            "that is not a URL of its engine"
        ),
        ("SC702 unknown setting 'migraitons' (hint: did you mean 'migrations'?)",),
        "use a known setting",
    ),
    Code(
        "SC703",
        "a bad `[tool.schemac.lint]` setting: unknown rule, key or severity, or a rule both enabled and disabled",
        ("pyproject.toml:9:1: SC703 unknown lint rule 'SC9O7' (hint: did you mean 'SC907'?)",),
        "see [Lint rules](lint-rules.md)",
    ),
    Code(
        "SC704",
        "the `docs` setting is not the path of a `.md` file",
        ("schemac.toml:2:1: SC704 docs must be the path of a .md file, not 'docs/schema.html'",),
        "name a Markdown file",
    ),
    Code(
        "SC705",
        (
            "a path setting (`specs`, `migrations`, `templates`, `docs`) resolves outside the project, `..` or "
            "symlinks followed"
        ),
        ("schemac.toml:2:1: SC705 migrations must be a path inside the project, not '../shared'",),
        "keep the directories inside the project",
    ),
    Code(
        "SC706",
        (
            "no database for a command that needs one, or `--env NAME` names an environment the settings do not "
            "have, or one whose `env:VARIABLE` is not set or does not hold a database URL (its value is never shown)"
        ),
        (
            "schemac.toml:4:1: SC706 environment 'production' reads its database from $DATABASE_URL, which is not set",
            "schemac.toml:1:1: SC706 no database: give --db URL, --env NAME or the SCHEMAC_DB environment variable",
        ),
        'set the variable, pass --db, or add the environment: [environments.NAME] with db = "env:VARIABLE"',
    ),
    Code(
        "SC801",
        "another build held the project lock for the whole timeout",
        ("SC801 another schemac process has held the project lock for 60 s",),
        "wait for it; a killed build never leaves the lock behind",
    ),
    Code(
        "SC901",
        (
            "a table with `audit: none` or a subset (and every table when the project default is not `full`), so an "
            "auditor sees the list"
        ),
        (),
        "meant for append-only or reference tables: keep the finding visible, or set `audit: full`",
        severity="warning",
        rule="audit-opt-out",
    ),
    Code(
        "SC902",
        "a `json` column whose name does not end in `_json`",
        (),
        "rename it to `<name>_json` (`renamed_from:` keeps its data)",
        severity="warning",
        rule="json-suffix",
    ),
    Code(
        "SC903",
        (
            "a foreign key whose columns (in any order) are not the leading columns of the primary key or of a "
            "non-partial index; deletes on the referenced table then scan the whole table"
        ),
        (),
        "add an index whose first columns are the key's columns",
        severity="warning",
        rule="foreign-key-index",
    ),
    Code(
        "SC904",
        "a table without a primary key",
        (),
        "`primary_key: true` on a column, or a table-level `primary_key: [...]`",
        rule="primary-key",
    ),
    Code(
        "SC905",
        (
            "an operation that loses data in a version no manifest lists yet: dropping a table or a column, or "
            "narrowing a column's type (the build refuses these without `allow_destructive: true`; once built, the "
            "version is published and lint no longer lists them)"
        ),
        (),
        "check the data is no longer needed or copied elsewhere; disable the rule once reviewed",
        severity="warning",
        rule="destructive",
    ),
    Code(
        "SC906",
        "a nullable `boolean` column (three states)",
        (),
        "drop `nullable: true` and give a default, or use an `enum` if a third state is meant",
        severity="warning",
        rule="nullable-boolean",
    ),
    Code(
        "SC907",
        "a table, or a column other than the audit columns, without a `description`",
        (),
        "add `description:`",
        severity="off",
        rule="missing-description",
    ),
    Code(
        "SC908",
        (
            "the first version from which a runner that executes every file on each start, recording none, fails or "
            "loses data: its file holds a statement that cannot run twice (listed in the manifest's `non_idempotent`: "
            "a rename, an `ALTER`, a rebuild), or it creates a table an earlier version dropped (a replay drops it "
            "again, with its rows); one finding per version, naming the dialects when there are several"
        ),
        (),
        (
            "apply with a runner that records applied versions and runs only newer ones (`schemac apply` does); "
            "disable the rule if no runner replays every file"
        ),
        severity="warning",
        rule="replay-unsafe",
    ),
    Code(
        "SC909",
        (
            "a single `integer` or `bigint` primary key without `identity: true`, of a table created before plain "
            "keys took effect on SQLite (see [Identity keys](dialects.md#identity-keys)), in a project that builds "
            "SQLite and another engine: SQLite numbers its rows when an insert leaves it out (a rowid alias), "
            "PostgreSQL and MariaDB do not, so an insert that works on SQLite fails there"
        ),
        (),
        "add `identity: true` so that every engine numbers the rows, or always give the key's value",
        severity="warning",
        rule="rowid-key",
    ),
    Code(
        "SC910",
        (
            "a column's type change, in a version no manifest lists yet, that copies every row of its table on "
            "PostgreSQL or MariaDB (a rewrite, `ALGORITHM=COPY`), blocking writes to the table until done; growing "
            "a `string(n)` (on MariaDB within 63 or from 64 characters), `string` to `text` and a `decimal`'s "
            "precision on PostgreSQL do not"
        ),
        (),
        (
            "on a table that takes writes: add a column of the new type, fill it in batches, switch to it in a later "
            "version; or apply at a quiet hour. See [Production PostgreSQL](production-postgresql.md)"
        ),
        severity="warning",
        rule="table-rewrite",
    ),
    Code(
        "SC911",
        (
            "a change, in a version no manifest lists yet, that PostgreSQL's lock-safe form still makes under a lock "
            "blocking the table's reads and writes while it goes through every row: a primary key changed on an "
            "existing table (its unique index is built under the lock), a column added with a `{fn: uuid}` default "
            "(every row is written); and, blocking writes while it is built, a unique index that a foreign key "
            "added by the same version references (the key needs it when it is added)"
        ),
        (),
        (
            "on a table that takes writes: make the change at a quiet hour; or add the column nullable, fill it in "
            "batches, and make it required or the key in a later version; make a column unique a version before "
            "a foreign key references it. See [Production PostgreSQL](production-postgresql.md)"
        ),
        severity="warning",
        rule="lock-unsafe-change",
    ),
    Code(
        "SC912",
        (
            "a table without a primary key in a project that builds MariaDB: a Galera cluster replicates rows by "
            "their key, cannot replicate a delete from a table without one, and refuses to create one under "
            "`wsrep_mode = REQUIRED_PRIMARY_KEY`; it stays an error where `SC904` is disabled"
        ),
        (),
        "`primary_key: true` on a column, or a table-level `primary_key: [...]`",
        rule="galera-primary-key",
    ),
    Code(
        "SC913",
        (
            "a change of a version not yet published that MariaDB makes only by copying the table, blocking its "
            "writes for as long as the copy takes, when its online form is on (see [MariaDB online "
            "DDL](dialects.md#mariadb-online-ddl)): a check added, a column added with a check, a function default "
            "or an identity, a column dropped that a key or check uses, a primary key changed, a foreign key with a "
            "`restrict` action added (a column's type change has a rule of its own)"
        ),
        (),
        "make the change when the table takes few writes, or disable the rule for tables that stay small",
        severity="warning",
        rule="mariadb-table-copy",
    ),
)

CODES: Mapping[str, Code] = MappingProxyType({code.code: code for code in _CODES})
"""Every code, by its name (``"SC101"``), in code order."""
