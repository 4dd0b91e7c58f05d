"""Previews (``apply --dry-run``, ``plan --sql``, ``apply --to`` below the database), one answer per problem
from every command, and the hints for other engines' type spellings and for bad indentation."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import schemac
from conftest import REPO
from schemac.applier import ApplyResult
from schemac.migrations.loader import Migration
from schemac.spec.validation import LOGICAL_TYPES, spelled_type

Cli = Callable[..., subprocess.CompletedProcess[str]]

USERS = """description: Users.
tables:
  users:
    description: A user.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      email: {type: text}
      nickname: {type: text, nullable: true}
"""
ORDERS = """description: Orders.
tables:
  orders:
    description: An order.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      user_id: {type: integer, references: users.id}
"""
TAGS = """description: Tags.
tables:
  tags:
    description: A tag.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
"""


def sql_of(project: Path, file: str) -> str:
    return (project / "migrations" / file).read_text(encoding="utf-8")


@pytest.fixture
def built(make_project: Callable[..., Path]) -> Path:
    """Two published versions: users, then orders."""
    project = make_project({"0001_users.yaml": USERS, "0002_orders.yaml": ORDERS})
    schemac.build(project)
    return project


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- apply --dry-run -----------------------------------------------------------------------------


def test_dry_run_prints_each_pending_version_s_sql_and_creates_no_database(built: Path, cli: Cli) -> None:
    database = built.parent / "app.db"
    outcome = cli("apply", "--db", database, "--project", built, "--dry-run")
    assert (outcome.returncode, outcome.stderr) == (0, "")
    assert outcome.stdout == (
        "-- version 1: migrations/0001_users.sql\n"
        + sql_of(built, "0001_users.sql")
        + "\n-- version 2: migrations/0002_orders.sql\n"
        + sql_of(built, "0002_orders.sql")
        + "\n-- 2 pending (dry run: nothing applied)\n"
    )
    assert not database.exists()
    quiet = cli("apply", "--db", database, "--project", built, "--dry-run", "--quiet")
    assert quiet.stdout == outcome.stdout.removesuffix("-- 2 pending (dry run: nothing applied)\n")
    assert not database.exists()


def test_dry_run_reads_an_existing_database_without_changing_a_byte(built: Path, cli: Cli) -> None:
    database = built.parent / "app.db"
    schemac.apply(built, str(database), to=1)
    before = digest(database)
    outcome = cli("apply", "--db", database, "--project", built, "--dry-run")
    assert (outcome.returncode, outcome.stderr) == (0, "")
    assert outcome.stdout == (
        "-- version 2: migrations/0002_orders.sql\n"
        + sql_of(built, "0002_orders.sql")
        + "\n-- 1 pending (dry run: nothing applied)\n"
    )
    listed = json.loads(cli("apply", "--db", database, "--project", built, "--dry-run", "--format", "json").stdout)
    assert listed == {
        "applied": [],
        "pending": [
            {
                "version": 2,
                "name": "orders",
                "file": "migrations/0002_orders.sql",
                "sql": sql_of(built, "0002_orders.sql"),
            }
        ],
        "dry_run": True,
    }
    assert digest(database) == before
    result = schemac.apply(built, str(database), dry_run=True)
    assert [result.sql(m) for m in result.pending] == [sql_of(built, "0002_orders.sql")]
    assert (result.current_version, result.applied) == (1, ())


def test_the_sql_of_a_version_a_run_left_part_way_is_the_statements_left() -> None:
    text = "-- header\n\nCREATE TABLE a (x INTEGER);\n\nCREATE TABLE b (y INTEGER);\nCREATE INDEX i ON b (y);\n"
    migration = Migration(3, "three", text, "0" * 64, "0003_three.sql")
    result = ApplyResult("db", "migrations", (), (migration,), True, 2, {3: 1})
    assert result.sql(migration) == "CREATE TABLE b (y INTEGER);\n\nCREATE INDEX i ON b (y);\n"
    assert ApplyResult("db", "migrations", (), (migration,), True, 2).sql(migration) == text


def test_dry_run_refuses_what_apply_refuses(built: Path, cli: Cli) -> None:
    missing_directory = built.parent / "nowhere" / "app.db"
    outcome = cli("apply", "--db", missing_directory, "--project", built, "--dry-run")
    assert (outcome.returncode, outcome.stdout) == (2, "")
    assert outcome.stderr == f"{missing_directory}:1:1: SC606 directory '{missing_directory.parent}' does not exist\n"
    assert not missing_directory.parent.exists()


# --- apply --to below the database ---------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_apply_to_a_version_below_the_database_says_apply_never_goes_backwards(
    built: Path, cli: Cli, dry_run: list[str]
) -> None:
    database = built.parent / "app.db"
    schemac.apply(built, str(database))
    before = digest(database)
    outcome = cli("apply", "--db", database, "--project", built, "--to", "1", *dry_run)
    assert (outcome.returncode, outcome.stdout) == (1, "")
    assert outcome.stderr == (
        f"{database}:1:1: SC609 --to 1 is below version 2, where {database} is: apply never goes backwards "
        "(hint: to undo a version, write a follow-up spec that changes the schema back, and apply it)\n"
    )
    assert digest(database) == before
    same = cli("apply", "--db", database, "--project", built, "--to", "2")
    assert (same.returncode, same.stdout, same.stderr) == (0, f"0 applied; {database} is at version 2\n", "")


# --- plan --sql ----------------------------------------------------------------------------------


def test_plan_sql_prints_only_the_sql_of_each_unbuilt_version_per_dialect(built: Path, cli: Cli) -> None:
    (built / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n', encoding="utf-8")
    for name in list((built / "migrations").iterdir()):
        name.unlink()
    schemac.build(built)
    (built / "specs" / "0003_tags.yaml").write_text(TAGS, encoding="utf-8")
    planned = {(p.dialect, p.version): p.sql for p in schemac.plan_changes(built)}
    assert sorted(planned) == [("postgresql", 3), ("sqlite", 3)]
    outcome = cli("plan", "--project", built, "--sql")
    assert (outcome.returncode, outcome.stderr) == (0, "")
    assert outcome.stdout == (
        "-- version 3 (sqlite, new): migrations/sqlite/0003_tags.sql\n"
        + planned["sqlite", 3]
        + "\n-- version 3 (postgresql, new): migrations/postgresql/0003_tags.sql\n"
        + planned["postgresql", 3]
        + "\n-- 2 version(s) to build\n"
    )
    assert 'CREATE TABLE IF NOT EXISTS "tags"' in planned["sqlite", 3]
    assert not (built / "migrations" / "sqlite" / "0003_tags.sql").exists()


# --- one answer per problem ----------------------------------------------------------------------


def test_a_spec_numbered_below_a_published_one_is_sc515_alone_from_build_check_and_plan(
    make_project: Callable[..., Path], cli: Cli
) -> None:
    project = make_project({"0001_users.yaml": USERS, "0003_orders.yaml": ORDERS})
    schemac.build(project)
    (project / "specs" / "0002_tags.yaml").write_text(TAGS, encoding="utf-8")
    said = (
        "specs/0002_tags.yaml:1:1: SC515 version 2 (0002_tags.sql) is new but numbered at or below 3 "
        "(0003_orders.sql), the newest version recorded: a runner applies only versions above the newest it has "
        "applied, so it would never run this one (hint: renumber specs/0002_tags.yaml above 3 and rebuild)\n"
    )
    answers = {command: cli(command, "--project", project) for command in ("build", "check", "plan")}
    assert {c: (o.returncode, o.stdout, o.stderr) for c, o in answers.items()} == {
        "build": (2, "", said),
        "check": (1, "", said),
        "plan": (2, "", said),
    }


def test_build_locates_an_edited_published_file_where_check_does(built: Path, cli: Cli) -> None:
    path = built / "migrations" / "0001_users.sql"
    path.write_text(path.read_text(encoding="utf-8") + "-- tweak\n", encoding="utf-8")
    line = len(path.read_text(encoding="utf-8").splitlines())
    said = (
        f"migrations/0001_users.sql:{line}:1: SC501 edited: file differs from its SHA-256 in the manifest "
        "(hint: restore it from version control; change the schema with a follow-up spec)\n"
    )
    assert cli("build", "--project", built).stderr == said
    assert cli("check", "--project", built).stderr == said


def test_status_lists_every_version_and_why_when_a_file_was_edited(built: Path, cli: Cli) -> None:
    database = built.parent / "app.db"
    schemac.apply(built, str(database), to=1)
    applied_at = schemac.status(built, str(database)).entries[0].applied_at
    checksum = schemac.load_migrations(built / "migrations")[0].checksum
    for file in ("0001_users.sql", "0002_orders.sql"):
        path = built / "migrations" / file
        path.write_text(path.read_text(encoding="utf-8") + "-- tweak\n", encoding="utf-8")
    outcome = cli("status", "--db", database, "--project", built)
    assert outcome.returncode == 1
    assert outcome.stdout == (
        f"changed       1  migrations/0001_users.sql  {applied_at}\nchanged       2  migrations/0002_orders.sql\n"
    )
    edited = (
        ":1:1: SC501 edited: file differs from its SHA-256 in the manifest (hint: restore it from version control; "
        "change the schema with a follow-up spec)"
    )
    assert outcome.stderr.splitlines() == [
        f"migrations/0001_users.sql{edited}",
        f"migrations/0001_users.sql:1:1: SC602 changed: version 1 was applied to {database} with SHA-256 "
        f"{checksum[:12]}…, the file now has another (hint: restore the file from version control; change the "
        "schema with a follow-up spec)",
        f"migrations/0002_orders.sql{edited}",
    ]
    applying = cli("apply", "--db", database, "--project", built)
    assert applying.returncode == 2  # apply still refuses to start
    assert applying.stderr.splitlines() == [f"migrations/0001_users.sql{edited}", f"migrations/0002_orders.sql{edited}"]


def test_lint_lists_data_loss_only_in_versions_not_published_yet(make_project: Callable[..., Path]) -> None:
    def notes(*columns: str, destructive: bool = True) -> str:
        lines = "".join(f"      {c}: {{type: text}}\n" for c in columns)
        return (
            f"description: Notes.\n{'allow_destructive: true' + chr(10) if destructive else ''}tables:\n  notes:\n"
            f"    description: A note.\n    audit: none\n    columns:\n      id: {{type: integer, primary_key: true}}\n"
            + lines
        )

    project = make_project({"0001_notes.yaml": notes("title", "body", "draft", destructive=False)})
    (project / "specs" / "0002_drop_body.yaml").write_text(notes("title", "draft"), encoding="utf-8")

    def data_loss() -> list[str]:
        found = schemac.lint(project).findings
        return [f"{d.file}:{d.line}:{d.column}: {d.message}" for d in found if d.code == "SC905"]

    assert data_loss() == ["specs/0002_drop_body.yaml:8:7: version 0002 loses data: drop column notes.body"]
    schemac.build(project)
    (project / "specs" / "0003_drop_draft.yaml").write_text(notes("title"), encoding="utf-8")
    assert data_loss() == ["specs/0003_drop_draft.yaml:8:7: version 0003 loses data: drop column notes.draft"]


# --- type spellings and indentation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("datetime", "timestamp"),
        ("DateTime", "timestamp"),
        ("timestamp with time zone", "timestamp"),
        ("varchar(255)", "string(255)"),
        ("VARCHAR ( 40 )", "string(40)"),
        ("varchar", "string(n)"),
        ("character varying(12)", "string(12)"),
        ("int", "integer"),
        ("int8", "bigint"),
        ("bool", "boolean"),
        ("numeric(10, 2)", "decimal(10,2)"),
        ("numeric", "decimal(p,s)"),
        ("float", "double"),
        ("jsonb", "json"),
        ("blob", "bytes"),
        ("guid", "uuid"),
        ("wibble", None),
        ("numeric(12", "decimal(p,s)"),
    ],
)
def test_other_engines_spellings_name_the_logical_type(written: str, meant: str | None) -> None:
    assert spelled_type(written) == meant


def test_an_unknown_type_hint_names_the_logical_type(make_project: Callable[..., Path], cli: Cli) -> None:
    project = make_project({"0001_users.yaml": USERS.replace("{type: text}", "{type: datetime}")})
    outcome = cli("validate", "--project", project)
    assert (outcome.returncode, outcome.stdout) == (2, "")
    assert outcome.stderr == (
        "specs/0001_users.yaml:8:21: SC205 unknown type 'datetime' (hint: write 'timestamp', the logical type for "
        "datetime)\n"
    )


def test_the_json_schema_offers_every_logical_type_for_completion() -> None:
    root = json.loads((REPO / "src" / "schemac" / "schema" / "spec.schema.json").read_text(encoding="utf-8"))
    column_type = root["$defs"]["column"]["properties"]["type"]
    offered = [e.replace("(200)", "(n)").replace("(12,2)", "(p,s)") for e in column_type["examples"]]
    assert offered == list(LOGICAL_TYPES)
    validator = Draft202012Validator(root).evolve(schema=column_type)
    assert all(validator.is_valid(example) for example in column_type["examples"])
    assert not any(validator.is_valid(name) for name in ("datetime", "varchar(20)", "int", "bool"))


def test_a_line_between_two_indentations_gets_a_hint_saying_which(make_project: Callable[..., Path], cli: Cli) -> None:
    text = "description: Lists.\ntables:\n  lists:\n    columns:\n      id: {type: integer}\n\n      # a note\n"
    text += "   name: x\n"
    project = make_project({"0001_lists.yaml": text})
    outcome = cli("validate", "--project", project)
    assert outcome.returncode == 2
    assert outcome.stderr == (
        "specs/0001_lists.yaml:8:4: SC104 invalid YAML: while parsing a block mapping expected <block end>, but found "
        "'<block mapping start>' (hint: line 8 is indented 3 spaces, unlike line 5 (6) or line 3 (2): YAML nests by "
        "indentation, so indent each key exactly as far as the other keys of its mapping (each '-' as the other "
        "items of its list))\n"
    )


# --- a spec lists each table's whole shape: new --from ---------------------------------------------

SHOP = """# yaml-language-server: $schema=../schema/spec.schema.json
description: Users and orders.
tables:
  # People who sign in.
  users:
    description: A user.
    columns:
      id:    {type: integer, primary_key: true}
      email: {type: text, unique: true}   # the login
      name:  {type: text}
      phone: {type: text, nullable: true}
    indexes:
      - columns: [name]
        # more indexes later

  # One row per checkout.
  orders:
    description: An order.
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      user_id: {type: integer, references: users.id}
drop_tables: []
"""
RENAME = """description: Orders belong to customers.
tables:
    orders:
        description: An order.
        audit: none
        columns:
            id: {type: integer, primary_key: true}
            customer_id:
                type: integer
                references: users.id
                renamed_from: user_id
            total: {type: integer, default: 0}
"""


def test_new_from_copies_each_table_s_current_shape_with_its_comments(
    make_project: Callable[..., Path], cli: Cli
) -> None:
    project = make_project({"0001_shop.yaml": SHOP, "0002_rename.yaml": RENAME})
    schemac.build(project)
    outcome = cli("new", "add_nickname", "--project", project, "--from", "users,orders")
    assert (outcome.returncode, outcome.stderr) == (0, "")
    path = project / "specs" / "0003_add_nickname.yaml"
    assert outcome.stdout == f"{path}\n"
    assert path.read_text(encoding="utf-8") == (
        "description: Describe what this version changes.\n"
        "tables:\n"
        "  # People who sign in.\n"
        "  users:\n"
        "    description: A user.\n"
        "    columns:\n"
        "      id:    {type: integer, primary_key: true}\n"
        "      email: {type: text, unique: true}   # the login\n"
        "      name:  {type: text}\n"
        "      phone: {type: text, nullable: true}\n"
        "    indexes:\n"
        "      - columns: [name]\n"
        "        # more indexes later\n"
        "\n"
        "  orders:\n"
        "      description: An order.\n"
        "      audit: none\n"
        "      columns:\n"
        "          id: {type: integer, primary_key: true}\n"
        "          customer_id:\n"
        "              type: integer\n"
        "              references: users.id\n"
        "          total: {type: integer, default: 0}\n"
    )
    assert [p.operations for p in schemac.plan_changes(project)] == [()]  # the shapes as they are: no change
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("      phone:", "      nickname: {type: text, nullable: true}\n      phone:"))
    assert [p.operations for p in schemac.plan_changes(project)] == [("add column users.nickname text",)]


def test_new_from_refuses_a_table_the_specs_do_not_have(make_project: Callable[..., Path], cli: Cli) -> None:
    project = make_project({"0001_shop.yaml": SHOP})
    for tables, said in [
        ("user", "no table 'user' as of the newest spec (hint: tables: orders, users)"),
        ("users,users", "table 'users' is named twice (hint: name each table once)"),
    ]:
        outcome = cli("new", "next", "--project", project, "--from", tables)
        assert (outcome.returncode, outcome.stdout, outcome.stderr) == (2, "", f"--from:1:1: SC116 {said}\n")
    assert sorted(p.name for p in (project / "specs").iterdir()) == ["0001_shop.yaml"]


def test_a_spec_that_leaves_out_most_of_a_table_says_a_spec_lists_its_whole_shape(
    make_project: Callable[..., Path], cli: Cli
) -> None:
    project = make_project({"0001_shop.yaml": SHOP})
    schemac.build(project)
    only_new = "description: Nicknames.\ntables:\n  users:\n    description: A user.\n    columns:\n"
    only_new += "      id: {type: integer, primary_key: true}\n      nickname: {type: text, nullable: true}\n"
    (project / "specs" / "0002_nickname.yaml").write_text(only_new, encoding="utf-8")
    outcome = cli("build", "--project", project)
    assert outcome.returncode == 2
    hint = (
        "a spec lists each table's whole shape, not only what changes, and this one leaves out most of 'users': "
        "start from its current shape, in the spec that last listed it ('schemac new <slug> --from users' copies it "
        "into a new spec once this one is removed); if the columns are to go, add allow_destructive: true"
    )
    assert outcome.stderr.splitlines() == [
        f"specs/0002_nickname.yaml:3:3: SC403 destructive change refused: dropping column 'users.{column}' "
        f"(hint: {hint})"
        for column in ("email", "name", "phone")
    ]
    one_gone = SHOP.replace("      phone: {type: text, nullable: true}\n", "")
    (project / "specs" / "0002_nickname.yaml").write_text(one_gone.replace("Users and", "Fewer"), encoding="utf-8")
    assert cli("build", "--project", project).stderr == (
        "specs/0002_nickname.yaml:5:3: SC403 destructive change refused: dropping column 'users.phone' (hint: "
        "existing rows can lose data or stop this migration; if intended, add allow_destructive: true to this spec)\n"
    )
