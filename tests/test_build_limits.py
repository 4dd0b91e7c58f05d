"""Build-time expression probes run within fixed limits: a spec cannot make them take long or much memory.

Every CLI run here has its address space capped (512 MiB), so an expression that got past the
limits would fail for want of memory rather than slow the machine down; each test asserts the
diagnostic, never a time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from schemac.model import Check, Column, ColumnType, Spec, Table
from schemac.spec import expressions

MEMORY_CAP = 512 * 1024 * 1024
HINT = (
    "(hint: schemac compiles every expression in SQLite within fixed limits (1,000,000 steps, values and LIKE "
    "patterns of 1,000 bytes): simplify it)"
)
TOO_LONG = "it holds or makes a string or blob longer than 1,000 bytes"

# The spec of issue 13, item 8: 526 bytes that took 29 s and 2 GB in `validate`.
ISSUE_SPEC = (
    "description: Bombs\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
    "    checks:\n"
    + "".join(f'      - {{name: c{i}, expression: "length(randomblob(99999999{i})) > 0"}}\n' for i in range(1, 7))
)


def capped_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m schemac *args`` with its address space capped on Linux."""
    limit = f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))" if sys.platform == "linux" else ""
    code = f"import resource, runpy; {limit}; runpy.run_module('schemac', run_name='__main__', alter_sys=True)"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=600, check=False
    )


def one_check(expression: str) -> str:
    return (
        "description: x\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
        f'    checks:\n      - {{name: c, expression: "{expression}"}}\n'
    )


def test_the_issue_spec_is_refused_at_each_check(make_project: Callable[..., Path]) -> None:
    assert len(ISSUE_SPEC.encode()) == 526
    project = make_project({"0001_x.yaml": ISSUE_SPEC})
    result = capped_cli("validate", cwd=project)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"specs/0001_x.yaml:{line}:32: SC315 check of table 't' is too costly to check at build time: {TOO_LONG} {HINT}"
        for line in range(8, 14)
    ]
    assert result.stdout == ""


REPLACED_9_TIMES = "length(" + "replace(" * 9 + "'x'" + ", 'x', 'xxxxxxxxxx')" * 9 + ") > 0"


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("length(hex(zeroblob(499999999))) > 0", TOO_LONG),
        (REPLACED_9_TIMES, TOO_LONG),
        # trim(), instr() and LIKE cost the product of their arguments' lengths
        (
            "length(trim(replace(hex(zeroblob(5000)), '0', 'a'), replace(hex(zeroblob(5000)), '0', 'b'))) >= 0",
            TOO_LONG,
        ),
        (
            "instr(replace(hex(zeroblob(500000)), '0', 'a'), replace(hex(zeroblob(250000)), '0', 'a') || 'b') >= 0",
            TOO_LONG,
        ),
        (
            "(replace(hex(zeroblob(5000)), '0', 'a') LIKE '%' || replace(hex(zeroblob(2400)), '0', 'a') || 'b') >= 0",
            TOO_LONG,
        ),
        ("id <> '" + "x" * 1001 + "'", TOO_LONG),
        # printf('%.Nc') loops N times whatever the length limit
        ("length(printf('%.*c', 99999999, 'x')) > 0", "it asks printf() for a width or precision over 1,000"),
        (
            "length(format('%.' || '99999999' || 'c', 'x')) > 0",
            "it asks printf() for a width or precision over 1,000",
        ),
        ("length(printf('%*.*c', 1, '99999999', 'x')) > 0", "it asks printf() for a width or precision over 1,000"),
        ("(" * 5000 + "id" + ")" * 5000 + " > 0", "it nests deeper than SQLite compiles (parser stack overflow)"),
        (
            "id" + " + 1" * 1000 + " > 0",
            "it nests deeper than SQLite compiles (Expression tree is too large (maximum depth 1000))",
        ),
        ("id IN (" + ", ".join(map(str, range(400_000))) + ")", "it takes more than 1,000,000 SQLite steps"),
    ],
    ids=[
        "zeroblob",
        "replace-chain",
        "trim",
        "instr",
        "like",
        "long-literal",
        "printf-precision",
        "format-built-precision",
        "printf-star-precision",
        "parentheses",
        "long-sum",
        "in-list",
    ],
)
def test_an_expensive_check_is_refused_at_its_expression(
    make_project: Callable[..., Path], expression: str, problem: str
) -> None:
    project = make_project({"0001_x.yaml": one_check(expression)})
    result = capped_cli("validate", cwd=project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"specs/0001_x.yaml:8:31: SC315 check of table 't' is too costly to check at build time: {problem} {HINT}\n"
    )


def test_a_default_is_compiled_without_running_it(make_project: Callable[..., Path]) -> None:
    """``SELECT (default)`` would run a subquery default before ``DEFAULT`` refused it; ``EXPLAIN`` runs nothing."""
    spec = (
        "description: x\ntables:\n  t:\n    audit: none\n    columns:\n      id: {type: integer, primary_key: true}\n"
        '      v: {type: integer, nullable: true, default: {sql: "(VALUES (length(randomblob(999999999))))"}}\n'
    )
    project = make_project({"0001_x.yaml": spec})
    result = capped_cli("validate", cwd=project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "specs/0001_x.yaml:7:57: SC310 default of table 't' is not a valid expression over its columns: "
        "default value of column [v] is not constant (hint: use only this table's columns and SQL functions)\n"
    )


def test_functions_that_reach_into_sqlite_are_refused(make_project: Callable[..., Path]) -> None:
    project = make_project({"0001_x.yaml": one_check("hex(fts3_tokenizer('simple')) <> ''")})
    result = capped_cli("validate", cwd=project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "specs/0001_x.yaml:8:31: SC310 check of table 't' is not a valid expression over its columns: "
        "fts3_tokenizer() may not be used in an expression (hint: use only this table's columns and SQL functions)\n"
    )


REASONABLE = """description: Reasonable expressions, next to one that is not.
tables:
  orders:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
      code: {type: text, check: "code = printf('ORD-%06d', id) OR code LIKE 'LEGACY-%'"}
      token: {type: text, default: {sql: "lower(hex(randomblob(16)))"}}
      placed: {type: text, default: {sql: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"}}
      meta: {type: text, default: {sql: "json_object('source', 'web', 'tags', json_array('a', 'b'))"}}
      ref: {type: text, nullable: true}
      status: {type: integer}
      note: {type: text, nullable: true}
    checks:
      - {name: ref_uuid, expression: "ref IS NULL OR ref GLOB '{uuid}'"}
      - {name: status_known, expression: "status IN ({statuses})"}
      - {name: note_not_boilerplate, expression: "note IS NULL OR note <> '{boilerplate}'"}
      - {name: padded, expression: "length(printf('%-*s|', 20, code)) = 21"}
  bombs:
    audit: none
    columns:
      id: {type: integer, primary_key: true}
    checks:
      - {name: big, expression: "length(randomblob(999999999)) > 0"}
"""


def test_reasonable_expressions_pass_within_the_limits(make_project: Callable[..., Path]) -> None:
    hexdigit = "[0-9a-f]"
    uuid = "-".join(hexdigit * n for n in (8, 4, 4, 4, 12))
    spec = (
        REASONABLE.replace("{uuid}", uuid)
        .replace("{statuses}", ", ".join(map(str, range(2000))))
        .replace("{boilerplate}", "Lorem ipsum dolor sit amet. " * 35)
    )
    assert len(uuid) == 260 and len("Lorem ipsum dolor sit amet. " * 35) == 980
    project = make_project({"0001_x.yaml": spec})
    result = capped_cli("validate", cwd=project)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "specs/0001_x.yaml:24:33: SC315 check of table 'bombs' is too costly to check at build time: "
        f"{TOO_LONG} {HINT}\n"
    )


def test_each_expression_of_a_wide_table_is_probed_with_the_columns_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """After any refusal, a table's expressions are probed one by one: with every column each time, a
    table of n columns and n checks would cost n² (2,000 of each took seconds)."""
    columns = tuple(Column(f"c{i}", ColumnType("integer"), nullable=True) for i in range(2000))
    checks = tuple(Check(f"k{i}", f'c{i} >= 0 AND "C{(i + 1) % 2000}" IS NOT c{i}') for i in range(2000))
    table = Table("t", columns, checks=(*checks, Check("bad", "nosuch > 0"), Check("lit", "1 = 1")))
    spec = Spec(1, "0001", "x", "specs/0001_x.yaml", "", "x", (table,))
    scopes: dict[str, tuple[str, ...]] = {}
    probe = expressions.sqlite_problem

    def spy(what: str, expression: str, name: str, scope: tuple[str, ...]) -> tuple[str, str] | None:
        scopes[expression] = scope
        return probe(what, expression, name, scope)

    monkeypatch.setattr(expressions, "sqlite_problem", spy)
    found = expressions.check_tables(spec, [table])
    assert [(d.code, d.message) for d in found] == [
        ("SC310", "check of table 't' is not a valid expression over its columns: no such column: nosuch")
    ]
    assert len(scopes) == 2002
    assert scopes['c5 >= 0 AND "C6" IS NOT c5'] == ("c5", "c6")
    assert scopes['c1999 >= 0 AND "C0" IS NOT c1999'] == ("c0", "c1999")
    assert scopes["nosuch > 0"] == scopes["1 = 1"] == ("c0",)
