"""Expressions judged for each configured dialect without a server: what the engine would refuse at ``apply``.

Every check, partial-index condition and ``{sql: …}`` default of a table is read for each dialect
the project builds, where it will stand:

- PostgreSQL: parsed by PostgreSQL's own parser (``pglast``, libpg_query, imported only when the
  dialect is configured), ``SC316`` when it does not parse; then a comparison of a boolean column
  with a number (``archived = 0``: PostgreSQL has no ``boolean = integer``) is ``SC318`` on each
  dialect whose booleans are not numbers (:attr:`schemac.dialects.Dialect.numeric_booleans`);
- PostgreSQL and MariaDB: each function called without a schema is looked up in the function table
  (:mod:`schemac.dialects.functions`), ``SC317`` for a function the table lists for other engines
  only, or for a name no engine has one letter away from one the dialect has (``nowz()``). Any other
  name is left to the engine: a dev database (:mod:`schemac.project.dev_databases`) checks it;
- SQLite: compiled in SQLite itself (:mod:`schemac.spec.expressions`).

The messages say what the engine would say, after ``<dialect> rejects <what> '<expression>':``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from schemac.dialects import DIALECTS, Dialect
from schemac.dialects.functions import CHECKED_BY_TABLE, FUNCTIONS, near
from schemac.errors import Diagnostic
from schemac.model import Spec, Table, Where
from schemac.spec.expressions import scan_expression

_SHOWN = 60
"""Longest expression a message quotes whole; a longer one is cut, with ``…``."""

_STANDS = {
    "check": "CREATE TABLE schemac_probe (CHECK ({expression}))",
    "partial index where": "CREATE INDEX schemac_probe ON schemac_probe (c) WHERE {expression}",
    "default": "CREATE TABLE schemac_probe (c integer DEFAULT ({expression}))",
}
"""Where each kind of expression stands in the statement PostgreSQL's parser reads."""

_WORD = re.compile(r"[a-z_][a-z0-9_]*")
_COMPARISONS = frozenset({"=", "<>", "<", ">", "<=", ">="})
_NUMBERS = {"ival": "integer", "fval": "numeric"}
"""A number's field in a constant → its type, as PostgreSQL names it in ``operator does not exist``."""

_WORD_OR_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_$]*|\S")
_NOT_CALLS = frozenset(
    {"all", "and", "any", "as", "between", "binary", "case", "cast", "collate", "distinct", "div", "else", "end"}
    | {"exists", "in", "interval", "is", "like", "not", "on", "or", "over", "regexp", "rlike", "row", "some", "then"}
    | {"escape", "using", "values", "when", "xor"}
)
"""Words a ``(`` may follow in an expression without their being a function call."""


def expression_items(spec: Spec, table: Table) -> list[tuple[Where, str, str]]:
    """(where, what, text) of each check, partial-index condition and SQL default of ``table``."""
    base = ("tables", table.name)
    items = [(c.where, "check", c.expression) for c in table.checks]
    items += [
        (spec.at(*base, "indexes", i, "where"), "partial index where", index.predicate)
        for i, index in enumerate(table.indexes)
        if index.predicate
    ]
    items += [
        (spec.at(*base, "columns", c.name, "default", "sql"), "default", str(c.default.value))
        for c in table.columns
        if c.default is not None and c.default.kind == "sql"
    ]
    return items


def shown(what: str, text: str) -> str:
    """``what 'text'`` as a message names an expression (a long one cut)."""
    one_line = " ".join(text.split())
    return f"{what} '{one_line if len(one_line) <= _SHOWN else one_line[: _SHOWN - 1] + '…'}'"


def check_tables(spec: Spec, tables: Iterable[Table], dialects: Sequence[str]) -> list[Diagnostic]:
    """Findings for the expressions of ``tables`` (as ``spec`` declares them) on each of ``dialects``."""
    found: list[Diagnostic] = []
    chosen = [DIALECTS[name] for name in dialects]
    parsing = "postgresql" in dialects or any(not d.numeric_booleans for d in chosen)
    for table in tables:
        for where, what, text in expression_items(spec, table):
            if scan_expression(text) is not None:  # refused as it is read (SC310)
                continue
            parsed = _Parsed.of(what, text) if parsing else None
            for dialect in chosen:
                for code, message, hint in _problems(dialect, table, what, text, parsed):
                    found.append(Diagnostic(spec.file, where[0], where[1], code, f"{dialect.name} {message}", hint))
    return found


def _problems(
    dialect: Dialect, table: Table, what: str, text: str, parsed: _Parsed | None
) -> Iterator[tuple[str, str, str]]:
    """(code, message after the dialect's name, hint) for one expression on ``dialect``."""
    named = shown(what, text)
    if parsed is not None and parsed.error is not None:  # PostgreSQL's parser refused it: nothing more to read
        if dialect.name == "postgresql":
            yield "SC316", f"cannot parse {named}: {parsed.error}", "write SQL that every configured dialect reads"
            return
        parsed = None
    if not dialect.numeric_booleans and parsed is not None:
        for column, operator in dict.fromkeys(_boolean_comparisons(parsed, table, text)):
            yield (
                "SC318",
                f"rejects {named}: operator does not exist: {operator}",
                f"compare boolean column '{column}' with true or false, not 1 or 0: every engine reads those",
            )
    if dialect.name not in CHECKED_BY_TABLE:
        return
    calls = parsed.calls() if dialect.name == "postgresql" and parsed is not None else _calls_scanned(text)
    for name in dict.fromkeys(calls):
        engines = FUNCTIONS.get(name)
        close = near(dialect.name, name)
        if engines is not None and dialect.name not in engines:
            others = ", ".join(sorted(engines))
            hint = f"{name}() is built into {others} only: use a function every configured dialect has"
        elif close is not None:
            hint = f"did you mean {close}()? A function of your own: call it with its schema, as in app.{name}()"
        else:
            continue
        yield "SC317", f"rejects {named}: function {name}() does not exist", hint


_BARE_CALL = re.compile(r'"FuncCall":\{"funcname":\[\{"String":\{"sval":("(?:[^"\\]|\\.)*")\}\}\]')
"""A call by a bare name in libpg_query's JSON (a qualified one lists more than one name)."""


@dataclass(frozen=True)
class _Parsed:
    """What PostgreSQL's parser (libpg_query, through pglast) makes of one expression where it stands: its
    parse tree as JSON, or why it does not parse. Its functions are read from the JSON text; the tree is
    read into Python only for a rule that needs it (a tenth of pglast's node objects' cost)."""

    json: str = ""
    error: str | None = None

    @classmethod
    def of(cls, what: str, text: str) -> _Parsed:
        from pglast.parser import ParseError, parse_sql_json  # ~40 ms to import: only when PostgreSQL is built

        statement = _STANDS[what].format(expression=text)
        try:
            return cls(parse_sql_json(statement))
        except ParseError as exc:
            message, index = (*exc.args, None)[:2]
            start = _STANDS[what].index("{expression}")
            if isinstance(index, int) and start <= index <= start + len(text):
                return cls(error=f"{message} (at character {index - start + 1} of the expression)")
            return cls(error=str(message))

    def calls(self) -> list[str]:
        """The functions the expression calls by a bare name (a schema-qualified call is the project's own or
        the engine's)."""
        return [str(json.loads(name)).lower() for name in _BARE_CALL.findall(self.json)]

    def nodes(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every node of the tree, depth first, as (its kind: ``FuncCall``, ``A_Expr`` …, its fields)."""
        try:
            tree = json.loads(self.json)
        except RecursionError:  # nested deeper than Python's decoder goes: no rule reads this tree
            return
        stack: list[tuple[str, Any]] = [("", tree)]
        while stack:
            key, value = stack.pop()
            if isinstance(value, dict):
                if key[:1].isupper():  # a node's kind; a field's name starts in lower case
                    yield key, value
                stack.extend(item for item in reversed(value.items()) if isinstance(item[1], dict | list))
            else:
                stack.extend(("", item) for item in reversed(value) if isinstance(item, dict | list))


def _node(value: Any, kind: str) -> dict[str, Any] | None:
    """The fields of ``value`` when it is a node of ``kind`` (``{"ColumnRef": {…}}``), else ``None``."""
    fields = value.get(kind) if isinstance(value, dict) else None
    return fields if isinstance(fields, dict) else None


def _name(value: Any) -> str | None:
    """The text of a ``String`` node (a name, an operator)."""
    node = _node(value, "String")
    return str(node.get("sval", "")) if node is not None else None


def _calls_scanned(text: str) -> list[str]:
    """The functions ``text`` calls by a bare name, read word by word: a word before ``(`` that is no
    keyword, not after ``.`` (a schema-qualified call) nor after ``AS`` (a type in ``CAST``)."""
    tokens = _WORD_OR_QUOTED.findall(text)
    found = []
    for i, token in enumerate(tokens):
        word = token.lower()
        if (
            (token[0].isalpha() or token[0] == "_")
            and i + 1 < len(tokens)
            and tokens[i + 1] == "("
            and word not in _NOT_CALLS
            and (i == 0 or tokens[i - 1] not in (".", "AS", "as", "As", "aS"))
        ):
            found.append(word)
    return found


def _boolean_comparisons(parsed: _Parsed, table: Table, text: str) -> Iterator[tuple[str, str]]:
    """(column, ``boolean = integer`` as PostgreSQL words it) for each comparison in ``parsed`` of a boolean
    column of ``table`` with a number, ``IN`` a list of numbers included (the tree is read only when
    ``text`` names a boolean column)."""
    words = set(_WORD.findall(text.lower()))
    if not any(c.type.name == "boolean" and c.name in words for c in table.columns):
        return

    def boolean_column(value: Any) -> str | None:
        node = _node(value, "ColumnRef")
        name = _name(node["fields"][-1]) if node is not None and node.get("fields") else None
        column = table.column(name) if name is not None else None
        return column.name if column is not None and column.type.name == "boolean" else None

    def number(value: Any) -> str | None:
        node = _node(value, "A_Const")
        return next((_NUMBERS[key] for key in _NUMBERS if node is not None and key in node), None)

    for kind, fields in parsed.nodes():
        names = fields.get("name", []) if kind == "A_Expr" else []
        operator = _name(names[0]) if len(names) == 1 else None
        if operator is None:
            continue
        left, right = fields.get("lexpr"), fields.get("rexpr")
        if fields.get("kind") == "AEXPR_OP" and operator in _COMPARISONS:
            if (column := boolean_column(left)) is not None and (other := number(right)) is not None:
                yield column, f"boolean {operator} {other}"
            elif (column := boolean_column(right)) is not None and (other := number(left)) is not None:
                yield column, f"{other} {operator} boolean"
        elif fields.get("kind") == "AEXPR_IN" and (column := boolean_column(left)) is not None:
            items = (_node(right, "List") or {}).get("items", [])
            other = next((n for n in map(number, items) if n is not None), None)
            if other is not None:
                yield column, f"boolean = {other}"
