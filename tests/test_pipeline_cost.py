"""The compile stages cost work linear in their input: CI runs them on untrusted pull requests.

Work is counted, not timed: Python lines executed (``sys.settrace``), with every name a :class:`Name`,
a ``str`` whose comparisons run Python code, so that scans the interpreter does in C (``list.index``,
``in`` on a tuple or list, sorting) count too. Each test measures an input of size n and of size 2n:
linear work about doubles, quadratic work about quadruples.
"""

from __future__ import annotations

import dataclasses
import pickle
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from schemac.datadict import mermaid
from schemac.errors import SchemacError
from schemac.model import (
    Check,
    Column,
    ColumnType,
    ForeignKey,
    Index,
    IndexColumn,
    Spec,
    Table,
)
from schemac.planner import CreateTable, VersionPlan, for_dialect, plan
from schemac.rules import lint_plans
from schemac.spec.expressions import scan_expression
from schemac.spec.reader import spec_from_document
from schemac.spec.source import load_document
from schemac.spec.validation import check_document

T = TypeVar("T")
INTEGER = ColumnType("integer")
LINEAR = 2.5
"""Largest allowed ratio of the work at 2n to the work at n: linear (2) with room for n log n sorting."""


class Name(str):
    """A name whose comparisons are Python calls, and so show up in :func:`work`."""

    __hash__ = str.__hash__

    def __eq__(self, other: object) -> bool:
        return str.__eq__(self, other) is True

    def __ne__(self, other: object) -> bool:
        return str.__ne__(self, other) is True

    def __lt__(self, other: str) -> bool:
        return str.__lt__(self, other) is True

    def __gt__(self, other: str) -> bool:
        return str.__gt__(self, other) is True


@contextmanager
def _counting_lines() -> Iterator[list[int]]:
    count = [0]

    def trace(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if event == "line":
            count[0] += 1
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        yield count
    finally:
        sys.settrace(previous)


def work(run: Callable[[], object]) -> int:
    """Python lines executed by ``run()``."""
    with _counting_lines() as count:
        run()
    return count[0]


def assert_linear(make: Callable[[int], T], run: Callable[[T], object], n: int) -> None:
    """``run`` on ``make(2 * n)`` does at most :data:`LINEAR` times the work it does on ``make(n)``."""
    run(make(4))  # imports and caches filled outside the measurement
    small, large = make(n), make(2 * n)
    at_n, at_2n = work(lambda: run(small)), work(lambda: run(large))
    assert at_2n <= LINEAR * at_n, f"work grows super-linearly: {at_n} lines at n={n}, {at_2n} at n={2 * n}"


def column(name: str, *, nullable: bool = True) -> Column:
    return Column(Name(name), INTEGER, nullable)


def table(name: str, columns: list[Column], **parts: Any) -> Table:
    return Table(Name(name), (Column(Name("id"), INTEGER), *columns), (Name("id"),), audit=(), **parts)


def spec(version: int, *tables: Table, drop: tuple[str, ...] = ()) -> Spec:
    prefix = f"{version:04d}"
    drop_tables = tuple(Name(name) for name in drop)
    return Spec(version, prefix, "s", f"specs/{prefix}_s.yaml", "0" * 64, "test", tables, drop_tables, bool(drop))


def foreign_key(name: str, columns: tuple[str, ...], ref_table: str, ref_columns: tuple[str, ...]) -> ForeignKey:
    return ForeignKey(Name(name), tuple(map(Name, columns)), Name(ref_table), tuple(map(Name, ref_columns)))


def planned(*specs: Spec) -> tuple[VersionPlan, ...]:
    plans, found = plan(specs)
    assert not [d for d in found if d.severity == "error"], found[:3]
    return tuple(plans)


def _document(yaml: str) -> Any:
    return load_document(yaml.encode("utf-8"), "specs/0001_x.yaml")


# Model and validation


class _CountingText(str):
    """Expression text that counts the characters read from it by indexing or slicing."""

    read = 0

    def __getitem__(self, key: Any) -> str:
        part = str.__getitem__(self, key)
        _CountingText.read += len(part)
        return part


def test_scanning_an_expression_reads_each_character_a_bounded_number_of_times() -> None:
    for n in (1000, 2000):
        text = _CountingText("a=1" + " or a=1" * n)
        _CountingText.read = 0
        assert scan_expression(text) is None
        assert _CountingText.read <= 2 * len(text)  # re.match on text[i:] copied the rest of it at each word


def test_an_expression_may_start_with_a_non_ascii_letter() -> None:
    assert scan_expression("é > 0") is None  # was an internal error (AssertionError)
    assert scan_expression("é > 0 or (select 1)") is not None


def test_foreign_keys_with_actions_cost_linear_work_in_their_columns() -> None:
    def document(n: int) -> Any:
        columns = "".join(f"      c{i}: {{type: integer, nullable: true}}\n" for i in range(n))
        keys = "".join(
            f"      - {{columns: [c{i}], references: {{table: t, columns: [id]}}, on_delete: set null, name: f{i}}}\n"
            for i in range(n)
        )
        head = "description: x\ntables:\n  t:\n    audit: none\n    columns:\n"
        return _document(
            head + "      id: {type: integer, primary_key: true}\n" + columns + "    foreign_keys:\n" + keys
        )

    assert_linear(document, lambda doc: spec_from_document(doc, 1, "0001", "x"), 300)


def _mixed_enum(n: int) -> Any:
    """Lists jsonschema cannot sort: an enum of numbers and strings with one repeat (``1.0`` is ``1``), and
    one without (``true`` is not ``1``); an unknown key makes jsonschema-rs hand the document over."""
    items = ", ".join(f"{i}, 'v{i}'" for i in range(n))
    return _document(
        "description: x\ntables:\n  t:\n    bogus_key: 1\n    columns:\n"
        f"      id: {{type: integer, primary_key: true}}\n      k: {{type: text, enum: [{items}, 1.0]}}\n"
        "      j: {type: integer, enum: [true, 1, false, 0]}\n"
    )


def test_unique_items_of_a_list_that_cannot_be_sorted_cost_linear_work_and_are_found_where_they_were() -> None:
    def repeats(doc: Any) -> None:
        found = [f"{d.line}:{d.column}: {d.code} {d.message}" for d in check_document(doc) if d.code == "SC208"]
        assert found == ["7:29: SC208 tables.t.columns.k.enum lists the same item twice"]

    assert_linear(_mixed_enum, repeats, 300)  # jsonschema compared every pair of items


# Plan


def test_appending_columns_to_a_table_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        before = table("t", [column(f"c{i}") for i in range(n)])
        after = table("t", [column(f"c{i}") for i in range(2 * n)])
        return [spec(1, before), spec(2, after)]

    assert_linear(specs, lambda specs: planned(*specs), 60)


def test_adding_columns_to_a_table_with_many_checks_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        columns = [column(f"c{i}") for i in range(n)]
        checks = tuple(Check(Name(f"ck_t_c{i}"), f"c{i} > 0") for i in range(n))
        return [spec(1, table("t", [])), spec(2, table("t", columns, checks=checks))]

    assert_linear(specs, lambda specs: planned(*specs), 150)


def test_creating_a_chain_of_foreign_keys_costs_linear_work() -> None:
    def chain(n: int) -> Spec:
        tables = [
            table(f"t{i}", [column("r")], foreign_keys=(foreign_key(f"fk{i}", ("r",), f"t{i + 1}", ("id",)),))
            for i in range(n - 1)
        ]
        return spec(1, *tables, table(f"t{n - 1}", []))

    def order(chained: Spec) -> None:
        (version,) = planned(chained)
        created = [op.table.name for op in version.operations if isinstance(op, CreateTable)]
        assert created == [t.name for t in reversed(chained.tables)]

    assert_linear(chain, order, 300)


def test_a_long_cycle_of_foreign_keys_costs_linear_work() -> None:
    def cycle(n: int) -> Spec:
        keys = [foreign_key(f"fk{i}", ("r",), f"t{(i + 1) % n}", ("id",)) for i in range(n)]
        return spec(1, *(table(f"t{i}", [column("r")], foreign_keys=(keys[i],)) for i in range(n)))

    def reported(cyclic: Spec) -> None:
        _, found = plan([cyclic])
        assert [d.code for d in found] == ["SC311"]

    assert_linear(cycle, reported, 1500)


def _referencing_all(n: int) -> list[Table]:
    """Tables t0 … t(n-1), each referenced by table ``hub``."""
    hub = table(
        "hub",
        [column(f"r{i}") for i in range(n)],
        foreign_keys=tuple(foreign_key(f"fk{i}", (f"r{i}",), f"t{i}", ("id",)) for i in range(n)),
    )
    return [*(table(f"t{i}", []) for i in range(n)), hub]


def test_renaming_many_tables_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        tables = _referencing_all(n)
        renamed = [
            dataclasses.replace(t, name=Name(f"u{i}"), renamed_from=Name(f"t{i}")) for i, t in enumerate(tables[:-1])
        ]
        return [spec(1, *tables), spec(2, *renamed)]

    assert_linear(specs, lambda specs: planned(*specs), 200)


def test_renaming_many_columns_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        before = table("t", [column(f"c{i}") for i in range(n)])
        after = table("t", [dataclasses.replace(column(f"d{i}"), renamed_from=Name(f"c{i}")) for i in range(n)])
        return [spec(1, before), spec(2, after)]

    assert_linear(specs, lambda specs: planned(*specs), 100)


def test_restating_tables_that_one_table_references_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        restated = [spec(2 + k, table(f"t{k}", [])) for k in range(n // 10)]
        return [spec(1, *_referencing_all(n)), *restated]

    assert_linear(specs, lambda specs: planned(*specs), 800)  # each version walked every key of the hub


def test_many_foreign_keys_to_one_table_cost_linear_work() -> None:
    def referenced(n: int) -> Spec:
        target = table(
            "p",
            [column(f"c{i}", nullable=False) for i in range(n)],
            indexes=tuple(Index(Name(f"uq{i}"), (IndexColumn(Name(f"c{i}")),), True) for i in range(n)),
        )
        keys = tuple(foreign_key(f"fk{i}", (f"r{i}",), "p", (f"c{i}",)) for i in range(n))
        return spec(1, target, table("q", [column(f"r{i}") for i in range(n)], foreign_keys=keys))

    assert_linear(referenced, planned, 100)


def test_naming_many_clashes_costs_linear_work() -> None:
    def clashing(n: int) -> list[Spec]:
        indexes = tuple(Index(Name(f"i{i}"), (IndexColumn(Name(f"c{i}")),)) for i in range(n))
        columns = [column(f"c{i}") for i in range(n)]
        return [spec(1, table("a", columns, indexes=indexes)), spec(2, table("b", columns, indexes=indexes))]

    def reported(specs: list[Spec]) -> None:
        _, found = plan(specs)
        assert len(found) == len(specs[0].tables[0].indexes)

    assert_linear(clashing, reported, 400)


def test_dropping_many_tables_that_do_not_exist_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        return [spec(1, *(table(f"t{i}", []) for i in range(n))), spec(2, drop=tuple(f"x{i}" for i in range(n)))]

    def reported(specs: list[Spec]) -> None:
        _, found = plan(specs)
        assert {d.code for d in found} == {"SC407"}

    assert_linear(specs, reported, 300)  # the hint listing the known tables was sorted again for each


def test_rebuilding_a_table_in_each_of_many_versions_costs_linear_work() -> None:
    def specs(n: int) -> list[Spec]:
        first = spec(1, *(table(f"t{i}", []) for i in range(n)))
        checked = [
            spec(2 + k, table(f"t{k}", [], checks=(Check(Name(f"ck_t{k}_c"), "id > 0"),))) for k in range(n // 10)
        ]
        return [first, *checked]

    def rebuilt(specs: list[Spec]) -> None:
        for version in planned(*specs)[1:]:
            (rebuild,) = for_dialect(version.operations, version, frozenset())
            assert rebuild.kind == "rebuild_table"

    assert_linear(specs, rebuilt, 200)  # each rebuild walked the whole schema for the tables referencing it


# Lint and docs


def _indexed_foreign_keys(n: int) -> tuple[VersionPlan, ...]:
    """A table with n foreign keys and n unique indexes, each leading with one of them."""
    keys = tuple(foreign_key(f"fk{i}", (f"c{i}",), "t", ("id",)) for i in range(n))
    indexes = tuple(
        Index(Name(f"uq{i}"), (IndexColumn(Name(f"c{i}")), IndexColumn(Name("id"))), True) for i in range(n)
    )
    return planned(spec(1, table("t", [column(f"c{i}") for i in range(n)], foreign_keys=keys, indexes=indexes)))


def test_linting_foreign_key_indexes_costs_linear_work() -> None:
    def lint(plans: tuple[VersionPlan, ...]) -> None:
        assert lint_plans(plans, {"SC903": "warning"}) == []

    assert_linear(_indexed_foreign_keys, lint, 150)


def test_linting_many_dropped_tables_costs_linear_work() -> None:
    def specs(n: int) -> tuple[VersionPlan, ...]:
        return planned(spec(1, *(table(f"t{i}", []) for i in range(n))), spec(2, drop=tuple(f"t{i}" for i in range(n))))

    def lint(plans: tuple[VersionPlan, ...]) -> None:
        assert len(lint_plans(plans, {"SC905": "warning"})) == len(plans[-1].spec.drop_tables)

    assert_linear(specs, lint, 300)


def test_diagramming_many_foreign_keys_costs_linear_work() -> None:
    def diagram(plans: tuple[VersionPlan, ...]) -> None:
        assert mermaid(plans[-1].schema).count('t |o--o{ t : "fk') == len(plans[-1].schema["t"].foreign_keys)

    assert_linear(_indexed_foreign_keys, diagram, 150)


# Robustness found on the way


def test_a_hexadecimal_integer_too_long_to_write_out_is_refused_like_a_decimal_one() -> None:
    for literal in ("0x" + "F" * 4000, "9" * 5000):
        found = _refusal(
            f"description: x\ntables:\n  t:\n    columns:\n      id: {{type: bigint, default: {literal}}}\n"
        )
        assert found == ["5:35: SC107"]  # was an internal error: no message could show the number


def _refusal(yaml: str) -> list[str]:
    try:
        _document(yaml)
    except SchemacError as error:
        return [f"{d.line}:{d.column}: {d.code}" for d in error.diagnostics]
    return []


def test_a_table_pickles_without_the_lookup_tables_it_built() -> None:
    key = foreign_key("fk", ("a",), "t", ("id",))
    t = table("t", [column("a")], indexes=(Index(Name("i"), (IndexColumn(Name("a")),)),), foreign_keys=(key,))
    fresh = pickle.dumps(t)
    assert t.column("a") is t.columns[1] and "i" in t.index_names and t.foreign_keys_by_target == {"t": [0]}
    assert pickle.dumps(t) == fresh
    assert pickle.loads(fresh).column("a") == t.columns[1]
