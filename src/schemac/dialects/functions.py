"""The functions each engine has built in: one table of facts, read by the offline expression rules.

A row names a function and the engines that have it (checked on SQLite 3.40, PostgreSQL 15 and
MariaDB 10.11). The table is small on purpose: the functions a check, index condition or default
commonly calls, and, for PostgreSQL and MariaDB, every built-in one letter away from one of those
(so that a name one letter off a common function is never a real one: see :func:`near`).
:mod:`schemac.spec.dialect_expressions` refuses, on a dialect, a function the table lists for
other engines only, and a name that is no function of any engine but one letter away from one the
dialect has (``nowz()``); any other name is left to the engine (a dev database checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_S, _P, _M = "sqlite", "postgresql", "mariadb"

_ROWS: tuple[tuple[tuple[str, ...], str], ...] = (
    ((_S, _P, _M), "abs atan atan2 ceil ceiling coalesce cos degrees exp floor format ln log log10 lower ltrim"),
    ((_S, _P, _M), "mod nullif pi power radians replace round rtrim sign sin sqrt substr substring tan trim upper"),
    ((_S, _P, _M), "length pow date time"),
    ((_S, _P), "random trunc json_array_length"),
    ((_S, _M), "hex ifnull instr json_extract json_type json_valid log2 quote"),
    ((_S,), "datetime glob iif julianday printf randomblob strftime typeof unicode unixepoch zeroblob"),
    ((_P, _M), "ascii bit_length char_length character_length chr concat concat_ws decode encode greatest least"),
    ((_P, _M), "left lpad md5 octet_length position regexp_instr regexp_replace regexp_substr repeat reverse"),
    ((_P, _M), "right rpad to_char now timestamp"),
    ((_P,), "age array_length btrim cardinality cbrt clock_timestamp date_part date_trunc gen_random_uuid"),
    ((_P,), "initcap json_typeof jsonb_array_length jsonb_typeof make_date make_interval make_timestamp"),
    ((_P,), "make_timestamptz regexp_like regexp_match regexp_matches split_part starts_with"),
    ((_P,), "statement_timestamp strpos timezone to_date to_hex to_timestamp transaction_timestamp translate"),
    ((_M,), "adddate addtime crc32 curdate curtime date_add date_format date_sub datediff dayname dayofweek"),
    ((_M,), "elt field find_in_set from_unixtime if isnull json_contains json_length json_unquote json_value"),
    ((_M,), "last_day"),
    ((_M,), "lcase locate makedate monthname nvl ord quarter rand sha1 sha2 space str_to_date subdate subtime"),
    ((_M,), "sysdate timestampadd timestampdiff ucase unhex unix_timestamp utc_date utc_time utc_timestamp uuid"),
    ((_M,), "week weekday year month day hour minute second truncate"),
)
_NEIGHBOURS: tuple[tuple[tuple[str, ...], str], ...] = (
    ((_S, _P, _M), "acos asin char lag lead max min rank"),
    ((_S, _P), "atanh cosh like sinh tanh"),
    ((_P, _M), "cot"),
    ((_P,), "atan2d atand cosd dcbrt dexp dlog10 dpow dround dsqrt dtrunc mode sind tand"),
    ((_M,), "bin crc32c glength lengthb mid nvl2 sformat sha"),
)
"""The built-in functions of PostgreSQL or MariaDB one letter away from a function of :data:`_ROWS`."""

FUNCTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {name: frozenset(engines) for engines, names in (*_ROWS, *_NEIGHBOURS) for name in names.split()}
)
"""Function name (lower case) → the engines that have it built in."""
_COMMON = frozenset(name for _, names in _ROWS for name in names.split())

CHECKED_BY_TABLE = frozenset({_P, _M})
"""The engines whose function calls this table judges; SQLite compiles each expression itself
(:mod:`schemac.spec.expressions`), which refuses a function it lacks more exactly."""


def one_letter_apart(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with one letter added, removed, changed, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and (a[diff[0]], a[diff[1]]) == (b[diff[1]], b[diff[0]])
        return len(diff) == 1 or swapped
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def near(dialect: str, name: str) -> str | None:
    """A common function of ``dialect`` one letter away from ``name``, a name no row lists (the first in
    alphabetical order), or ``None``."""
    if name in FUNCTIONS or len(name) < 3:
        return None
    return next(
        (known for known in sorted(_COMMON) if dialect in FUNCTIONS[known] and one_letter_apart(known, name)), None
    )
