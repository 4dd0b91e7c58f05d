"""Lint rules (SC9xx) on compiled projects: exact findings with positions, configuration, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

import pytest

import schemac
from conftest import EXAMPLE
from schemac.project import behaviours
from schemac.rules import RULES
from test_docs_site import hooks

Run = Callable[..., CompletedProcess[str]]
MakeProject = Callable[..., Path]

FLAWED = """\
description: Tables with one flaw each.
tables:
  accounts:
    description: An account.
    columns:
      id:       {type: uuid, primary_key: true}
      payload:  {type: json, default: {}}
      verified: {type: boolean, nullable: true}
  visits:
    description: A page visit, append-only.
    audit: none
    columns:
      account_id: {type: uuid, references: accounts.id}
      path:       {type: text}
"""


def _lines(result: schemac.LintResult) -> list[str]:
    return [f"{d.severity} {d.file}:{d.line}:{d.column}: {d.code} {d.message}" for d in result.findings]


def test_each_default_rule_reports_its_flaw_at_its_line(make_project: MakeProject) -> None:
    result = schemac.lint(make_project({"0001_flawed.yaml": FLAWED}))
    assert _lines(result) == [
        "warning specs/0001_flawed.yaml:7:7: SC902 json column 'accounts.payload' is not named *_json",
        "warning specs/0001_flawed.yaml:8:7: SC906 boolean column 'accounts.verified' is nullable",
        "error specs/0001_flawed.yaml:9:3: SC904 table 'visits' has no primary key",
        "warning specs/0001_flawed.yaml:11:12: SC901 table 'visits' opts out of audit columns created, updated, "
        "deleted (keeps: none)",
        "warning specs/0001_flawed.yaml:13:44: SC903 foreign key fk_visits_account_id (account_id) has no index "
        "that starts with its columns (partial indexes do not count)",
    ]
    assert (result.errors, result.warnings, result.ok) == (1, 4, False)


def test_cli_exits_1_on_an_error_and_prints_text_findings_on_stderr(make_project: MakeProject, cli: Run) -> None:
    outcome = cli("lint", "--project", make_project({"0001_flawed.yaml": FLAWED}))
    assert outcome.returncode == 1
    assert (
        "specs/0001_flawed.yaml:9:3: SC904 table 'visits' has no primary key (hint: add primary_key" in outcome.stderr
    )
    assert outcome.stdout == "1 errors, 4 warnings\n"


def test_warnings_alone_exit_0(cli: Run) -> None:
    outcome = cli("lint", "--project", EXAMPLE)
    assert outcome.returncode == 0, outcome.stderr
    codes = [line.split(" ")[1] for line in outcome.stderr.splitlines()]
    assert codes == ["SC901", "SC901"]  # the append-only event table and the never-deleted fallback records
    assert outcome.stdout == "0 errors, 2 warnings\n"


def test_example_findings_name_the_audit_opt_outs(cli: Run) -> None:
    report = json.loads(cli("lint", "--project", EXAMPLE, "--format", "json").stdout)
    audit = [(f["file"], f["line"], f["message"]) for f in report if f["code"] == "SC901"]
    assert audit == [
        (
            "specs/0003_streaming_progress_and_fallback.yaml",
            8,
            "table 'streaming_progress_events' opts out of audit columns updated, deleted (keeps: created)",
        ),
        (
            "specs/0003_streaming_progress_and_fallback.yaml",
            23,
            "table 'streaming_fallback_records' opts out of audit columns deleted (keeps: created, updated)",
        ),
    ]


COVERING = """\
description: Foreign keys with and without covering indexes.
tables:
  parents:
    description: Referenced.
    primary_key: [a, b]
    columns:
      a: {type: integer}
      b: {type: integer}
  children:
    description: Referencing.
    primary_key: [pa, pb, n]
    columns:
      pa: {type: integer}
      pb: {type: integer}
      n:  {type: integer}
      qa: {type: integer}
      qb: {type: integer}
      ra: {type: integer}
      rb: {type: integer}
      sa: {type: integer}
      sb: {type: integer}
    indexes:
      - columns: [qb, qa, n]
      - columns: [n, ra, rb]
      - columns: [sa, sb]
        where: "sa > 0"
    foreign_keys:
      - {name: fk_by_key, columns: [pa, pb], references: {table: parents, columns: [a, b]}}
      - {name: fk_by_index, columns: [qa, qb], references: {table: parents, columns: [a, b]}}
      - {name: fk_not_leading, columns: [ra, rb], references: {table: parents, columns: [a, b]}}
      - {name: fk_partial, columns: [sa, sb], references: {table: parents, columns: [a, b]}}
"""


def test_a_foreign_key_is_covered_by_the_leading_columns_of_the_key_or_a_full_index(
    make_project: MakeProject,
) -> None:
    result = schemac.lint(make_project({"0001_keys.yaml": COVERING}, 'audit = {default = "full"}\n'))
    assert [(d.code, d.message.split(" (")[0], d.line) for d in result.findings] == [
        ("SC903", "foreign key fk_not_leading", 30),
        ("SC903", "foreign key fk_partial", 31),
    ]


def _settings(lint_table: str) -> str:
    return "[lint]\n" + lint_table


def test_rules_can_be_disabled_enabled_and_given_a_severity(make_project: MakeProject, cli: Run) -> None:
    settings = _settings(
        'disable = ["primary-key"]\nenable = ["SC907"]\n[lint.severity]\nSC902 = "error"\nSC906 = "off"\n'
    )
    project = make_project({"0001_flawed.yaml": FLAWED}, settings)
    result = schemac.lint(project)
    assert [(d.code, d.severity, d.line, d.column) for d in result.findings] == [
        ("SC907", "warning", 6, 7),
        ("SC902", "error", 7, 7),
        ("SC907", "warning", 7, 7),
        ("SC907", "warning", 8, 7),
        ("SC901", "warning", 11, 12),
        ("SC907", "warning", 13, 7),
        ("SC903", "warning", 13, 44),
        ("SC907", "warning", 14, 7),
    ]
    assert result.severities["SC904"] is None and result.severities["SC906"] is None
    assert cli("lint", "--project", project).returncode == 1  # SC902 is now an error
    (project / "schemac.toml").write_text(_settings('disable = ["SC904"]\n'), encoding="utf-8")
    assert cli("lint", "--project", project).returncode == 0


def test_missing_descriptions_are_off_by_default_and_skip_audit_columns(make_project: MakeProject) -> None:
    spec = "description: x\ntables:\n  notes:\n    columns:\n      id: {type: integer, primary_key: true}\n"
    project = make_project({"0001_notes.yaml": spec})
    assert schemac.lint(project).findings == ()
    (project / "schemac.toml").write_text(_settings('enable = ["missing-description"]\n'), encoding="utf-8")
    found = [(d.line, d.column, d.message) for d in schemac.lint(project).findings]
    assert found == [(3, 3, "table 'notes' has no description"), (5, 7, "column 'notes.id' has no description")]


@pytest.mark.parametrize(
    ("lint_table", "line", "message", "hint"),
    [
        ('disable = ["SC999"]\n', 2, "unknown lint rule 'SC999'", "did you mean 'SC909'?"),
        ('enable = ["json-sufix"]\n', 2, "unknown lint rule 'json-sufix'", "did you mean 'json-suffix'?"),
        ("disable = [1]\n", 2, "unknown lint rule 1", "rules are SC901-SC913 or their names, such as json-suffix"),
        (
            '[lint.severity]\nSC901 = "fatal"\n',
            3,
            "lint severity of SC901 must be error, warning or off, not 'fatal'",
            "",
        ),
        ('enable = ["SC901"]\ndisable = ["audit-opt-out"]\n', 3, "lint rule SC901 is both enabled and disabled", ""),
        ("select = []\n", 2, "unknown lint setting 'select'", "the lint table takes: disable, enable, severity"),
    ],
)
def test_bad_lint_settings_are_located_settings_errors(
    make_project: MakeProject, cli: Run, lint_table: str, line: int, message: str, hint: str
) -> None:
    project = make_project({"0001_flawed.yaml": FLAWED}, _settings(lint_table))
    outcome = cli("lint", "--project", project)
    assert outcome.returncode == 2
    expected = f"schemac.toml:{line}:1: SC703 {message}" + (f" (hint: {hint})" if hint else "")
    assert outcome.stderr.splitlines() == [expected]


def test_lint_settings_in_pyproject(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "specs").mkdir(parents=True)
    (project / "specs" / "0001_flawed.yaml").write_text(FLAWED, encoding="utf-8")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.other]\nenable = []\n\n[tool.schemac.lint]\ndisable = ["SC904", "SC901"]\n',
        encoding="utf-8",
    )
    assert sorted(d.code for d in schemac.lint(project).findings) == ["SC902", "SC903", "SC906"]
    settings = project / "pyproject.toml"
    settings.write_text(settings.read_text(encoding="utf-8") + 'enable = ["SC9O7"]\n', encoding="utf-8")
    with pytest.raises(schemac.SchemacError) as caught:
        schemac.lint(project)
    assert [str(d) for d in caught.value.diagnostics] == [
        "pyproject.toml:9:1: SC703 unknown lint rule 'SC9O7' (hint: did you mean 'SC907'?)"
    ]


def test_invalid_specs_are_reported_not_linted(make_project: MakeProject, cli: Run) -> None:
    project = make_project(
        {"0001_bad.yaml": "description: x\ntables:\n  t:\n    columns:\n      id: {type: varchar}\n"}
    )
    outcome = cli("lint", "--project", project, "--format", "json")
    assert outcome.returncode == 2
    assert [(f["code"], f["line"], f["column"]) for f in json.loads(outcome.stdout)] == [("SC205", 5, 18)]


def test_every_rule_is_documented_on_the_lint_rules_page() -> None:
    page = hooks.render((EXAMPLE.parents[1] / "docs" / "lint-rules.md").read_text(encoding="utf-8"))
    for rule in RULES:
        row = f"| `{rule.code}` | `{rule.name}` | {rule.default or 'off'} |"
        assert row in page, row


NOTES = """\
description: One table.
tables:
  notes:
    description: A note.
    columns:
      id: {type: integer, primary_key: true}
"""


def test_a_project_default_that_opts_out_lists_every_table_at_its_name(make_project: MakeProject) -> None:
    project = make_project({"0001_notes.yaml": NOTES}, '[audit]\ndefault = ["created"]\n')
    assert _lines(schemac.lint(project)) == [
        "warning specs/0001_notes.yaml:3:3: SC901 table 'notes' opts out of audit columns updated, deleted "
        "(keeps: created)"
    ]


def test_destructive_operations_are_listed_per_version(make_project: MakeProject) -> None:
    first = """\
description: Two tables.
tables:
  drafts:
    description: Old drafts.
    columns:
      id: {type: integer, primary_key: true}
  notes:
    description: A note.
    columns:
      id:    {type: integer, primary_key: true}
      title: {type: string(200)}
      body:  {type: text}
"""
    second = """\
description: Drop drafts, a column, and shorten titles.
allow_destructive: true
drop_tables: [drafts]
tables:
  notes:
    description: A note.
    columns:
      id:    {type: integer, primary_key: true}
      title: {type: string(80)}
"""
    project = make_project({"0001_first.yaml": first, "0002_second.yaml": second})
    found = [f"{d.file}:{d.line}:{d.column}: {d.message}" for d in schemac.lint(project).findings if d.code == "SC905"]
    assert found == [
        "specs/0002_second.yaml:3:15: version 0002 loses data: drop table drafts",
        "specs/0002_second.yaml:8:7: version 0002 loses data: drop column notes.body",
        "specs/0002_second.yaml:9:21: version 0002 loses data: alter column notes.title: string(200) NOT NULL -> "
        "string(80) NOT NULL",
    ]
    assert all(d.severity == "warning" for d in schemac.lint(project).findings)


KEYS = """\
description: Keys numbered and not.
tables:
  plain:
    description: Numbered by SQLite alone.
    columns:
      id: {type: bigint, primary_key: true, description: The key.}
  numbered:
    description: Numbered everywhere.
    columns:
      id: {type: integer, primary_key: true, identity: true, description: The key.}
  coded:
    description: A text key, numbered nowhere.
    columns:
      code: {type: text, primary_key: true, description: The key.}
"""


@pytest.mark.parametrize(
    ("dialects", "expected"),
    [
        (
            '["sqlite", "postgresql", "mariadb"]',
            [
                "warning specs/0001_keys.yaml:6:7: SC909 key 'plain.id' numbers itself on sqlite when an insert "
                "leaves it out, not on postgresql or mariadb"
            ],
        ),
        ('["sqlite"]', []),  # one engine: the same behaviour everywhere it runs
        ('["postgresql", "mariadb"]', []),
    ],
)
def test_a_lone_integer_key_without_identity_is_reported_where_engines_differ(
    dialects: str, expected: list[str], make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project({"0001_keys.yaml": KEYS}, f"dialects = {dialects}\n")
    with monkeypatch.context() as patched:  # published by a schemac that wrote every such key INTEGER
        patched.setattr(behaviours, "_first_unpublished", lambda manifests, versions: None)
        schemac.build(project, cache=False)
    result = schemac.lint(project)
    assert [line for line in _lines(result) if "SC909" in line] == expected


def test_a_lone_integer_key_of_a_table_created_since_plain_keys_is_not_reported(make_project: MakeProject) -> None:
    result = schemac.lint(make_project({"0001_keys.yaml": KEYS}, 'dialects = ["sqlite", "postgresql"]\n'))
    assert [line for line in _lines(result) if "SC909" in line] == []  # SQLite writes plain.id BIGINT
