"""``schemac adopt``: hand-written migration files recorded in the manifest as they are, then held to it.

Adopting writes the ``adopted`` block (file, SHA-256, version) or refuses (SC522) writing nothing; an
adopted file edited (SC520), removed (SC521) or a new unrecorded one (SC503) is drift for ``check``,
``build``, the loader, ``apply`` and ``status``; a new version numbered at or below what the manifest
records is SC515; ``new`` numbers above everything in the style of the highest; a tampered ``adopted``
block is SC505 or SC506; ``apply`` runs adopted and generated files together in version order.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import schemac
from conftest import findings
from schemac.migrations.manifest import AdoptedFile, chain_of, parse_manifest

Cli = Callable[..., subprocess.CompletedProcess[str]]

HAND = {
    "001_initial_schema.sql": "CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n",
    "005_template_catalog.sql": "CREATE TABLE templates (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n",
    "013_backfill_section_records.sql": "INSERT INTO documents (id, title) VALUES (1, 'first');\n",
    "20251013_quality_gates.sql": "CREATE TABLE quality_gates (id INTEGER PRIMARY KEY, rule TEXT);\n",
    "20251110_template_bootstrap.sql": "INSERT INTO templates (id, name) VALUES (1, 'default');\n",
}
HAND_NEWEST = "20251110_template_bootstrap.sql"
VERSIONS = {name: int(name.split("_", 1)[0]) for name in HAND}
STREAMS = """description: Streams.
tables:
  streams:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      title: {type: text}
"""
LATE = STREAMS.replace("streams:", "late:")

HINT_RENUMBER = "(hint: rename it before any database has applied it, or write it as a raw SQL step in specs/)"
BAD_NAME = (
    "SC522 cannot adopt: a migration file is named <version>_<name>.sql, the version in digits and the name in "
    "letters, digits, '_', '-' and '.' " + HINT_RENUMBER
)


def same_version(file: str, version: int, other: str) -> str:
    """SC522 for ``file``, whose integer version ``version`` is also ``other``'s."""
    message = f"SC522 cannot adopt: version {version} is also the version of {other}"
    return f"migrations/{file}:1:1: {message}: {ONE_PER_VERSION}"


ONE_PER_VERSION = "a runner's history holds one file per version, so one of them would never run " + HINT_RENUMBER
SC503_HINT = (
    "(hint: remove it, add the spec that produces it, or record a hand-written file with 'schemac adopt'; "
    "new hand-written SQL goes in specs/ as a raw SQL step)"
)
SC520 = (
    "migrations/005_template_catalog.sql:1:1: SC520 edited: adopted hand-written file differs from the "
    "SHA-256 that schemac adopt recorded (hint: restore it from version control; change the data with a raw SQL "
    "step (specs/<version>_<slug>.sql) and the schema with a follow-up spec)"
)
SC521 = (
    "migrations/013_backfill_section_records.sql:1:1: SC521 removed: adopted hand-written file is missing "
    "(hint: restore it from version control)"
)
SC503 = f"migrations/20251200_extra.sql:1:1: SC503 added: migration file is not produced by any spec {SC503_HINT}"
RESTORE = "(hint: restore manifest.json from version control: it records what was published)"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def hand_project(root: Path, files: dict[str, str] = HAND, specs: dict[str, str] | None = None) -> Path:
    """A SQLite project whose migrations directory holds the hand-written ``files`` (nothing adopted yet)."""
    (root / "specs").mkdir(parents=True)
    (root / "migrations").mkdir()
    (root / "schemac.toml").write_text('dialects = ["sqlite"]\n', encoding="utf-8")
    for name, text in files.items():
        (root / "migrations" / name).write_text(text, encoding="utf-8")
    for name, text in (specs or {}).items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    return root


def adopted_project(root: Path) -> Path:
    """The hand-written files adopted."""
    hand_project(root)
    schemac.adopt(root)
    return root


def manifest_bytes(root: Path) -> bytes | None:
    path = root / "migrations" / "manifest.json"
    return path.read_bytes() if path.exists() else None


def adopted_text(files: dict[str, str]) -> str:
    """The manifest ``adopt`` writes for ``files`` (name → text) and no generated file, written out by hand."""
    order = sorted(files, key=lambda name: int(name.split("_", 1)[0]))
    chain = sha("".join(f"{sha(files[name])}  {name}\n" for name in order))
    blocks = ",\n".join(
        f'    {{\n      "file": "{name}",\n      "sha256": "{sha(files[name])}",\n'
        f'      "version": {int(name.split("_", 1)[0])}\n    }}'
        for name in order
    )
    return (
        f'{{\n  "adopted": [\n{blocks}\n  ],\n  "algorithm": "sha256",\n  "chain": "{chain}",\n'
        f'  "dialect": "sqlite",\n  "files": [],\n  "format": 1\n}}\n'
    )


# --- adopt ----------------------------------------------------------------------------------------


def test_adopt_records_a_mixed_style_directory_in_version_order(tmp_path: Path) -> None:
    root = hand_project(tmp_path / "p")
    before = {p.name: p.read_bytes() for p in (root / "migrations").iterdir()}
    result = schemac.adopt(root)
    assert result == schemac.AdoptResult(
        (
            "migrations/001_initial_schema.sql",
            "migrations/005_template_catalog.sql",
            "migrations/013_backfill_section_records.sql",
            "migrations/20251013_quality_gates.sql",
            "migrations/20251110_template_bootstrap.sql",
        ),
        ("migrations/manifest.json",),
    )
    text = (root / "migrations" / "manifest.json").read_text(encoding="utf-8")
    assert text == adopted_text(HAND)
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    manifest = parse_manifest(text.encode(), "manifest.json")
    assert manifest.adopted == tuple(
        AdoptedFile(VERSIONS[name], name, sha(HAND[name])) for name in sorted(HAND, key=VERSIONS.__getitem__)
    )
    assert (manifest.entries, manifest.baseline, manifest.newest()) == ((), None, (20251110, HAND_NEWEST))
    assert manifest.chain == chain_of((), manifest.adopted) == json.loads(text)["chain"]
    # the hand-written files are kept byte for byte, and adopting again records nothing new
    assert {p.name: p.read_bytes() for p in (root / "migrations").iterdir() if p.suffix == ".sql"} == before
    assert schemac.adopt(root) == schemac.AdoptResult((), ())
    assert (root / "migrations" / "manifest.json").read_text(encoding="utf-8") == text
    assert schemac.check(root).drift == ()


def test_a_manifest_without_adopted_files_has_no_adopted_key(tmp_path: Path) -> None:
    root = hand_project(tmp_path / "p", files={}, specs={"0001_streams.yaml": STREAMS})
    schemac.build(root)
    data = manifest_bytes(root)
    assert data is not None
    text = data.decode()
    assert '"adopted"' not in text
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    manifest = parse_manifest(data, "manifest.json")
    assert manifest.adopted == ()
    [entry] = manifest.entries
    assert manifest.chain == chain_of(manifest.entries) == sha(f"{entry.sha256}  0001_streams.sql\n")
    assert manifest.to_text() == text
    # nothing to adopt: the manifest is not rewritten
    assert schemac.adopt(root) == schemac.AdoptResult((), ())
    assert manifest_bytes(root) == data


def test_readopting_records_only_new_files_numbered_above_everything(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    (root / "specs" / "20251111_streams.yaml").write_text(STREAMS, encoding="utf-8")
    schemac.build(root)
    published = parse_manifest(manifest_bytes(root) or b"", "manifest.json")
    extra = "INSERT INTO streams (id, title) VALUES (1, 'hand');\n"
    (root / "migrations" / "20251112_hand-made.v2.sql").write_text(extra, encoding="utf-8")
    assert schemac.adopt(root) == schemac.AdoptResult(
        ("migrations/20251112_hand-made.v2.sql",), ("migrations/manifest.json",)
    )
    manifest = parse_manifest(manifest_bytes(root) or b"", "manifest.json")
    assert manifest.entries == published.entries
    assert manifest.adopted == (*published.adopted, AdoptedFile(20251112, "20251112_hand-made.v2.sql", sha(extra)))
    hashes = [(a.sha256, a.file) for a in manifest.adopted] + [(e.sha256, e.file) for e in manifest.entries]
    lines = [f"{digest}  {file}\n" for digest, file in hashes]
    assert json.loads(manifest_bytes(root) or b"")["chain"] == sha("".join(lines))
    assert schemac.check(root).drift == ()
    migrations = schemac.load_migrations(root / "migrations")
    assert [(m.version, m.name) for m in migrations][-2:] == [(20251111, "streams"), (20251112, "hand-made.v2")]


def test_adopt_cli_prints_each_file_and_json_prints_findings(tmp_path: Path, cli: Cli) -> None:
    root = hand_project(tmp_path / "p")
    done = cli("adopt", "--project", root)
    listed = "".join(f"adopted migrations/{name}\n" for name in HAND)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        listed + "5 adopted, wrote migrations/manifest.json\n",
        "",
    )
    again = cli("adopt", "--project", root, "--format", "json")
    assert (again.returncode, again.stdout, again.stderr) == (0, "[]\n", "")
    (root / "migrations" / "012_late.sql").write_text("SELECT 1;\n", encoding="utf-8")
    before = manifest_bytes(root)
    refused = cli("adopt", "--project", root, "--format", "json")
    assert (refused.returncode, refused.stderr) == (2, "")
    assert json.loads(refused.stdout) == [
        {
            "file": "migrations/012_late.sql",
            "line": 1,
            "column": 1,
            "code": "SC522",
            "severity": "error",
            "message": "cannot adopt: version 12 is at or below 20251110 (20251110_template_bootstrap.sql), the "
            "newest version recorded: a runner that applied that one would never run this file",
            "hint": "renumber it above 20251110 before any database has applied it, or write it as a raw SQL step "
            "in specs/",
        }
    ]
    text = cli("adopt", "--project", root)
    assert (text.returncode, text.stdout) == (2, "")
    assert text.stderr == (
        "migrations/012_late.sql:1:1: SC522 cannot adopt: version 12 is at or below 20251110 "
        "(20251110_template_bootstrap.sql), the newest version recorded: a runner that applied that one would never "
        "run this file (hint: renumber it above 20251110 before any database has applied it, or write it as a raw "
        "SQL step in specs/)\n"
    )
    assert manifest_bytes(root) == before
    (root / "migrations" / "012_late.sql").rename(root / "migrations" / "20251111_late.sql")
    quiet = cli("adopt", "--project", root, "--quiet")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert [a.file for a in parse_manifest(manifest_bytes(root) or b"", "m").adopted][-1] == "20251111_late.sql"


# Each case: hand-written files, specs, whether the files are adopted before ``extra`` is added, and the findings.
REFUSALS: dict[str, tuple[dict[str, str], dict[str, str], dict[str, str], list[str]]] = {
    "no version": ({}, {}, {"initial.sql": "SELECT 1;\n"}, [f"migrations/initial.sql:1:1: {BAD_NAME}"]),
    "no name": ({}, {}, {"007_.sql": "SELECT 1;\n"}, [f"migrations/007_.sql:1:1: {BAD_NAME}"]),
    "a space in the name": (
        {},
        {},
        {"007_my file.sql": "SELECT 1;\n"},
        [f"migrations/007_my file.sql:1:1: {BAD_NAME}"],
    ),
    "a letter in the version": ({}, {}, {"v7_init.sql": "SELECT 1;\n"}, [f"migrations/v7_init.sql:1:1: {BAD_NAME}"]),
    "another character": ({}, {}, {"007_a@b.sql": "SELECT 1;\n"}, [f"migrations/007_a@b.sql:1:1: {BAD_NAME}"]),
    "the same integer version": (
        {},
        {},
        {"001_a.sql": "SELECT 1;\n", "0001_b.sql": "SELECT 2;\n", "002_c.sql": "SELECT 3;\n"},
        [same_version("001_a.sql", 1, "0001_b.sql")],
    ),
    "the version of a spec": (
        {},
        {"0001_streams.yaml": STREAMS},
        {"001_a.sql": "SELECT 1;\n"},
        [same_version("001_a.sql", 1, "0001_streams.sql")],
    ),
    "the version of a raw step": (
        {},
        {"0003_seed.sql": "SELECT 1;\n"},
        {"3_a.sql": "SELECT 1;\n"},
        [same_version("3_a.sql", 3, "0003_seed.sql")],
    ),
    "the version of an adopted file": (
        HAND,
        {},
        {"0013_again.sql": "SELECT 1;\n"},
        [same_version("0013_again.sql", 13, "013_backfill_section_records.sql")],
    ),
    "below the newest adopted file": (
        HAND,
        {},
        {"20251109_late.sql": "SELECT 1;\n", "20251111_fine.sql": "SELECT 2;\n"},
        [
            "migrations/20251109_late.sql:1:1: SC522 cannot adopt: version 20251109 is at or below 20251110 "
            "(20251110_template_bootstrap.sql), the newest version recorded: a runner that applied that one would "
            "never run this file (hint: renumber it above 20251110 before any database has applied it, or write it "
            "as a raw SQL step in specs/)"
        ],
    ),
    "too large a version": (
        {},
        {},
        {"9007199254740992_big.sql": "SELECT 1;\n"},
        [
            "migrations/9007199254740992_big.sql:1:1: SC522 cannot adopt: version 9007199254740992 is larger than "
            f"9007199254740991, the largest every engine and loader holds {HINT_RENUMBER}"
        ],
    ),
    "not UTF-8": (
        {},
        {},
        {"001_a.sql": "SELECT 'caf\udce9';\n"},
        ["migrations/001_a.sql:1:12: SC102 file is not valid UTF-8 (byte 0xe9) (hint: save the file as UTF-8)"],
    ),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_adopt_refuses_and_writes_nothing(tmp_path: Path, case: str) -> None:
    first, specs, extra, expected = REFUSALS[case]
    root = hand_project(tmp_path / "p", first, specs)
    if first:
        schemac.adopt(root)
    for name, text in extra.items():
        (root / "migrations" / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    before = manifest_bytes(root)
    assert findings(lambda: schemac.adopt(root)) == expected
    assert manifest_bytes(root) == before
    assert sorted(p.name for p in (root / "migrations").iterdir()) == sorted(
        [*first, *extra, *(["manifest.json"] if first else [])]
    )


def test_adopt_refuses_a_file_below_a_published_version(tmp_path: Path) -> None:
    root = hand_project(tmp_path / "p", files={}, specs={"0002_streams.yaml": STREAMS})
    schemac.build(root)
    (root / "migrations" / "0001_old.sql").write_text("SELECT 1;\n", encoding="utf-8")
    before = manifest_bytes(root)
    assert findings(lambda: schemac.adopt(root)) == [
        "migrations/0001_old.sql:1:1: SC522 cannot adopt: version 1 is at or below 2 (0002_streams.sql), the newest "
        "version recorded: a runner that applied that one would never run this file (hint: renumber it above 2 "
        "before any database has applied it, or write it as a raw SQL step in specs/)"
    ]
    assert manifest_bytes(root) == before


# --- drift ----------------------------------------------------------------------------------------


def drifted(root: Path) -> Path:
    """The adopted files with a generated version, then one adopted file edited (still runnable), one that nothing
    needs removed, and a new one added."""
    (root / "specs" / "20251111_streams.yaml").write_text(STREAMS, encoding="utf-8")
    schemac.build(root)
    with (root / "migrations" / "005_template_catalog.sql").open("a", encoding="utf-8") as handle:
        handle.write("-- touched\n")
    (root / "migrations" / "013_backfill_section_records.sql").unlink()
    (root / "migrations" / "20251200_extra.sql").write_text("SELECT 1;\n", encoding="utf-8")
    return root


def test_check_build_and_the_loader_report_edited_removed_and_added_files(tmp_path: Path, cli: Cli) -> None:
    root = drifted(adopted_project(tmp_path / "p"))
    checked = cli("check", "--project", root)
    assert (checked.returncode, checked.stdout, checked.stderr) == (1, "", f"{SC520}\n{SC521}\n{SC503}\n")
    before = {p.name: p.read_bytes() for p in (root / "migrations").iterdir()}
    assert findings(lambda: schemac.build(root)) == [SC520, SC521, SC503]
    assert {p.name: p.read_bytes() for p in (root / "migrations").iterdir()} == before
    assert findings(lambda: schemac.load_migrations(root / "migrations", root=root)) == [SC520, SC521, SC503]
    plain = findings(lambda: schemac.load_migrations(root / "migrations", "sqlite"))
    assert plain == [line.replace("migrations/", f"{root.as_posix()}/migrations/", 1) for line in (SC520, SC521, SC503)]
    database = str(tmp_path / "app.db")
    assert findings(lambda: schemac.apply(root, database)) == [SC520, SC521, SC503]
    assert not Path(database).exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("edit", [SC520]),
        ("remove", [SC521]),
        ("add", [SC503]),
    ],
)
def test_each_kind_of_drift_alone(tmp_path: Path, change: str, expected: list[str]) -> None:
    root = adopted_project(tmp_path / "p")
    migrations = root / "migrations"
    if change == "edit":
        (migrations / "005_template_catalog.sql").write_text("CREATE TABLE templates (id);\n", encoding="utf-8")
    elif change == "remove":
        (migrations / "013_backfill_section_records.sql").unlink()
    else:
        (migrations / "20251200_extra.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert [str(d.diagnostic) for d in schemac.check(root).errors] == expected
    assert findings(lambda: schemac.load_migrations(migrations, root=root)) == expected


def test_status_refuses_a_new_unrecorded_file(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    database = str(tmp_path / "app.db")
    schemac.apply(root, database)
    (root / "migrations" / "20251200_extra.sql").write_text("SELECT 1;\n", encoding="utf-8")
    assert findings(lambda: schemac.status(root, database)) == [SC503]
    assert findings(lambda: schemac.apply(root, database)) == [SC503]


def test_a_removed_adopted_file_is_reported_only_as_removed(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    (root / "migrations" / "001_initial_schema.sql").unlink()
    removed = SC521.replace("013_backfill_section_records", "001_initial_schema")
    assert [str(d.diagnostic) for d in schemac.check(root).drift] == [removed]


# --- apply ----------------------------------------------------------------------------------------


def test_apply_runs_adopted_and_generated_files_in_version_order(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    (root / "specs" / "20251111_streams.yaml").write_text(STREAMS, encoding="utf-8")
    (root / "specs" / "20251112_seed_streams.sql").write_text(
        "INSERT INTO streams (id, title) SELECT id, title FROM documents;\n", encoding="utf-8"
    )
    schemac.build(root)
    database = str(tmp_path / "app.db")
    result = schemac.apply(root, database)
    assert [(m.version, m.name, m.file) for m in result.applied] == [
        (1, "initial_schema", "migrations/001_initial_schema.sql"),
        (5, "template_catalog", "migrations/005_template_catalog.sql"),
        (13, "backfill_section_records", "migrations/013_backfill_section_records.sql"),
        (20251013, "quality_gates", "migrations/20251013_quality_gates.sql"),
        (20251110, "template_bootstrap", "migrations/20251110_template_bootstrap.sql"),
        (20251111, "streams", "migrations/20251111_streams.sql"),
        (20251112, "seed_streams", "migrations/20251112_seed_streams.sql"),
    ]
    assert result.current_version == 20251112
    with sqlite3.connect(database) as con:
        assert con.execute("SELECT id, title FROM streams").fetchall() == [(1, "first")]
        assert con.execute("SELECT id, name FROM templates").fetchall() == [(1, "default")]
        history = con.execute("SELECT version, checksum FROM schemac_history ORDER BY version").fetchall()
    con.close()
    assert history[:5] == [(VERSIONS[name], sha(text)) for name, text in HAND.items()]
    assert [e.state for e in schemac.status(root, database).entries] == ["applied"] * 7
    assert schemac.apply(root, database).applied == ()


# --- numbering ------------------------------------------------------------------------------------

BELOW_ADOPTED = (
    "specs/014_late.yaml:1:1: SC515 version 14 (014_late.sql) is new but numbered at or below 20251110 "
    "(20251110_template_bootstrap.sql), the newest version recorded: a runner applies only versions above the "
    "newest it has applied, so it would never run this one (hint: renumber specs/014_late.yaml above 20251110 and "
    "rebuild)"
)
BELOW_PUBLISHED = (
    "specs/20251105_late.yaml:1:1: SC515 version 20251105 (20251105_late.sql) is new but numbered at or below "
    "20251111 (20251111_streams.sql), the newest version recorded: a runner applies only versions above the newest "
    "it has applied, so it would never run this one (hint: renumber specs/20251105_late.yaml above 20251111 and "
    "rebuild)"
)
AT_ADOPTED = (
    "specs/20251110_late.sql:1:1: SC515 version 20251110 (20251110_late.sql) is new but numbered at or below "
    "20251110 (20251110_template_bootstrap.sql), the newest version recorded: a runner applies only versions above "
    "the newest it has applied, so it would never run this one (hint: renumber specs/20251110_late.sql above "
    "20251110 and rebuild)"
)


@pytest.mark.parametrize(
    ("published", "spec", "text", "expected"),
    [
        (False, "014_late.yaml", LATE, BELOW_ADOPTED),
        (True, "20251105_late.yaml", LATE, BELOW_PUBLISHED),
        (False, "20251110_late.sql", "SELECT 1;\n", AT_ADOPTED),
    ],
)
def test_a_new_version_at_or_below_the_newest_recorded_is_refused(
    tmp_path: Path, published: bool, spec: str, text: str, expected: str
) -> None:
    root = adopted_project(tmp_path / "p")
    if published:
        (root / "specs" / "20251111_streams.yaml").write_text(STREAMS, encoding="utf-8")
        schemac.build(root)
    (root / "specs" / spec).write_text(text, encoding="utf-8")
    before = {p.name: p.read_bytes() for p in (root / "migrations").iterdir()}
    assert findings(lambda: schemac.build(root)) == [expected]
    assert {p.name: p.read_bytes() for p in (root / "migrations").iterdir()} == before
    assert findings(lambda: schemac.plan_changes(root)) == [expected]
    assert [str(d.diagnostic) for d in schemac.check(root).drift] == [expected]  # the one answer, as from build


def test_check_cli_exits_1_on_a_version_below_the_adopted_files(tmp_path: Path, cli: Cli) -> None:
    root = adopted_project(tmp_path / "p")
    (root / "specs" / "014_late.yaml").write_text(LATE, encoding="utf-8")
    checked = cli("check", "--project", root)
    assert checked.returncode == 1
    assert checked.stderr.splitlines()[0] == BELOW_ADOPTED
    planned = cli("plan", "--project", root)
    assert (planned.returncode, planned.stdout, planned.stderr) == (2, "", BELOW_ADOPTED + "\n")


NEW_CASES = {
    "date style": (HAND, {}, False, "20251111_next.yaml"),
    "three digits": (
        {"001_a.sql": "SELECT 1;\n", "005_b.sql": "SELECT 1;\n", "013_c.sql": "SELECT 1;\n"},
        {},
        False,
        "014_next.yaml",
    ),
    "width grows past 999": ({"1_a.sql": "SELECT 1;\n", "999_b.sql": "SELECT 1;\n"}, {}, False, "1000_next.yaml"),
    "four digits carry": ({"0099_a.sql": "SELECT 1;\n"}, {}, False, "0100_next.yaml"),
    "an unbuilt raw step is highest": (
        {"013_c.sql": "SELECT 1;\n"},
        {"0020_seed.sql": "SELECT 1;\n"},
        False,
        "0021_next.yaml",
    ),
    "a published spec is highest": (HAND, {"20251111_streams.yaml": STREAMS}, True, "20251112_next.yaml"),
    "an adopted file above the specs": (
        {"20251110_a.sql": "SELECT 1;\n"},
        {"0001_first.sql": "SELECT 1;\n"},
        False,
        "20251111_next.yaml",
    ),
}


@pytest.mark.parametrize("case", NEW_CASES)
def test_new_numbers_above_everything_in_the_style_of_the_highest(tmp_path: Path, case: str) -> None:
    files, specs, build, expected = NEW_CASES[case]
    root = hand_project(tmp_path / "p", files)
    schemac.adopt(root)
    for name, text in specs.items():
        (root / "specs" / name).write_text(text, encoding="utf-8")
    if build:
        schemac.build(root)
    path = schemac.new(root, "next")
    assert path == root / "specs" / expected
    assert path.read_text(encoding="utf-8").startswith("description: Describe what this version changes.\n")


# --- a tampered adopted block ---------------------------------------------------------------------

FIRST_SHA = sha(HAND["001_initial_schema.sql"])
TAMPERED: dict[str, tuple[Callable[[str], str], str]] = {
    "hand-edited sha256": (
        lambda t: t.replace(FIRST_SHA, "0" * 64),
        f"migrations/manifest.json:30:1: SC506 manifest chain does not match its files: the manifest was edited by "
        f"hand {RESTORE}",
    ),
    "missing sha256": (
        lambda t: t.replace(f'      "sha256": "{FIRST_SHA}",\n', ""),
        f"migrations/manifest.json:4:1: SC505 manifest adopted[0] is missing the key 'sha256' {RESTORE}",
    ),
    "version as a string": (
        lambda t: t.replace('"version": 5\n', '"version": "5"\n'),
        f"migrations/manifest.json:9:1: SC505 manifest adopted[1].version must be an integer {RESTORE}",
    ),
    "version of another file": (
        lambda t: t.replace('"version": 1\n', '"version": 2\n'),
        f"migrations/manifest.json:4:1: SC505 manifest adopted[0] names file '001_initial_schema.sql' with version 2 "
        f"{RESTORE}",
    ),
    "a name the loader reads otherwise": (
        lambda t: t.replace('"001_initial_schema.sql"', '"001_initial schema.sql"'),
        f"migrations/manifest.json:4:1: SC505 manifest adopted[0] names file '001_initial schema.sql' with version 1 "
        f"{RESTORE}",
    ),
    "not a list": (
        lambda t: t.replace('"adopted": [', '"adopted": {"x": [', 1).replace('\n  ],\n  "alg', ']},\n  "alg'),
        f"migrations/manifest.json:2:1: SC505 manifest key 'adopted' must be a list {RESTORE}",
    ),
    "an entry not an object": (
        lambda t: t.replace('"adopted": [', '"adopted": [\n    7,', 1),
        f"migrations/manifest.json:2:1: SC505 manifest adopted[0] must be an object {RESTORE}",
    ),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_a_tampered_adopted_block_is_refused(tmp_path: Path, case: str) -> None:
    mutate, expected = TAMPERED[case]
    root = adopted_project(tmp_path / "p")
    path = root / "migrations" / "manifest.json"
    text = path.read_text(encoding="utf-8")
    changed = mutate(text)
    assert changed != text
    path.write_text(changed, encoding="utf-8")
    assert findings(lambda: schemac.load_migrations(root / "migrations", root=root)) == [expected]
    assert findings(lambda: schemac.build(root)) == [expected]
    assert [(str(d.diagnostic), d.kind) for d in schemac.check(root).drift] == [(expected, "edited")]
    assert findings(lambda: schemac.adopt(root)) == [expected]
    assert path.read_text(encoding="utf-8") == changed


def test_the_chain_covers_the_adopted_files_in_their_order(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    path = root / "migrations" / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["adopted"][0], data["adopted"][1] = data["adopted"][1], data["adopted"][0]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert findings(lambda: schemac.load_migrations(root / "migrations", root=root)) == [
        f"migrations/manifest.json:30:1: SC506 manifest chain does not match its files: the manifest was edited by "
        f"hand {RESTORE}"
    ]
    # dropping an adopted entry changes it too
    data["adopted"] = data["adopted"][2:]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert [str(d.diagnostic) for d in schemac.check(root).drift] == [
        f"migrations/manifest.json:20:1: SC506 manifest chain does not match its files: the manifest was edited by "
        f"hand {RESTORE}"
    ]


def test_the_loader_reports_a_new_adoptable_file_as_added(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    (root / "migrations" / "20251200_New-One.sql").write_text("SELECT 1;\n", encoding="utf-8")
    added = SC503.replace("20251200_extra", "20251200_New-One")
    assert [str(d.diagnostic) for d in schemac.check(root).errors] == [added]
    assert findings(lambda: schemac.load_migrations(root / "migrations", root=root)) == [added]


def test_adopt_does_not_skip_a_file_another_dialects_step_produces(tmp_path: Path) -> None:
    root = tmp_path / "p"
    (root / "specs").mkdir(parents=True)
    (root / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n', encoding="utf-8")
    for dialect in ("sqlite", "postgresql"):
        (root / "migrations" / dialect).mkdir(parents=True)
        (root / "migrations" / dialect / "001_init.sql").write_text("CREATE TABLE a (id INTEGER);\n", encoding="utf-8")
    (root / "specs" / "0002_seed.sqlite.sql").write_text("INSERT INTO a VALUES (1);\n", encoding="utf-8")
    schemac.adopt(root)
    schemac.build(root)
    (root / "migrations" / "postgresql" / "0002_seed.sql").write_text("SELECT 1;\n", encoding="utf-8")
    hand = "migrations/postgresql/0002_seed.sql"
    assert [d.diagnostic.file for d in schemac.check(root).errors] == [hand]
    try:
        result = schemac.adopt(root)
    except schemac.SchemacError as refused:
        assert [d.file for d in refused.diagnostics] == [hand]
    else:
        assert result.adopted == (hand,)


def test_a_manifest_giving_one_version_to_two_files_is_refused(tmp_path: Path) -> None:
    """A hand-edited manifest (its chain recomputed) cannot smuggle in a second file of an adopted version."""
    root = adopted_project(tmp_path / "p")
    (root / "migrations" / "013_dup.sql").write_text("DELETE FROM documents;\n", encoding="utf-8")
    path = root / "migrations" / "manifest.json"
    manifest = parse_manifest(path.read_bytes(), "m")
    forged = AdoptedFile(13, "013_dup.sql", sha("DELETE FROM documents;\n"))
    adopted = tuple(sorted((*manifest.adopted, forged), key=lambda a: a.version))
    path.write_text(type(manifest)(manifest.dialect, manifest.entries, adopted).to_text(), encoding="utf-8")
    message = (
        "migrations/manifest.json:{line}:1: SC505 manifest gives version 13 to both 013_backfill_section_records.sql "
        "and 013_dup.sql: a runner's history holds one file per version (hint: restore manifest.json from version "
        "control: it records what was published)"
    )
    (problem,) = findings(lambda: schemac.build(root))
    line = path.read_text(encoding="utf-8").splitlines().index('      "file": "013_dup.sql",') + 1
    assert problem == message.format(line=line)


def test_a_project_with_adopted_files_keeps_its_layout(tmp_path: Path) -> None:
    """Going from one dialect to two would move the adopted files out of the directory their runner reads."""
    root = adopted_project(tmp_path / "p")
    (root / "schemac.toml").write_text('dialects = ["sqlite", "postgresql"]\n', encoding="utf-8")
    before = sorted(p.name for p in (root / "migrations").iterdir())
    expected = (
        "migrations/manifest.json:1:1: SC518 stale layout: these sqlite migrations include adopted hand-written "
        "files, which stay where the runner that applied them reads them; with 2 dialects they would move to "
        "migrations/sqlite/ (hint: keep the number of dialects the project had when it adopted them)"
    )
    assert expected in findings(lambda: schemac.build(root))
    assert sorted(p.name for p in (root / "migrations").iterdir()) == before
    assert expected in [str(d.diagnostic) for d in schemac.check(root).drift]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def test_check_base_refuses_a_new_adopted_file_below_the_base(tmp_path: Path) -> None:
    root = adopted_project(tmp_path / "p")
    git(root, "init", "-q")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base", "--allow-empty")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "adopted")
    path = root / "migrations" / "manifest.json"
    manifest = parse_manifest(path.read_bytes(), "m")
    (root / "migrations" / "0014_late.sql").write_text("SELECT 1;\n", encoding="utf-8")
    late = AdoptedFile(14, "0014_late.sql", sha("SELECT 1;\n"))
    adopted = tuple(sorted((*manifest.adopted, late), key=lambda a: a.version))
    path.write_text(type(manifest)(manifest.dialect, manifest.entries, adopted).to_text(), encoding="utf-8")
    drift = [str(d.diagnostic) for d in schemac.check(root, base="HEAD").drift]
    assert drift == [
        "migrations/manifest.json:1:1: SC515 adopted file 0014_late.sql is new but numbered at or below HEAD's "
        f"newest version {VERSIONS[HAND_NEWEST]} (hint: renumber it above {VERSIONS[HAND_NEWEST]}, or write it as "
        "a raw SQL step in specs/)"
    ]
