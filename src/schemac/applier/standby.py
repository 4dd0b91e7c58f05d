"""Standbys: a PostgreSQL server in recovery replays its primary's write-ahead log and takes no writes.

The writers (``apply``, ``baseline``) refuse one before they lock or create anything (SC640);
``status`` and ``verify`` read one, and say where it is in the log (:class:`~schemac.dialects.base.Replay`);
``verify`` can first wait for it to catch up (:func:`wait_until_replayed`).
"""

from __future__ import annotations

import math
import time

from schemac.applier.records import one_line
from schemac.dialects.base import Database, Replay, log_offset
from schemac.dialects.connections import Target
from schemac.errors import EXIT_FINDINGS, Diagnostic, SchemacError, fail

POLL_INTERVAL = 0.05
"""Seconds between two reads of a standby's replay position while waiting."""


def read_replay(database: Database, target: Target) -> Replay | None:
    """Where the database replays its primary's log; ``None`` when it is not a standby. SC606 on a read error."""
    try:
        return database.replay()
    except database.driver_error as exc:
        raise fail(target.shown, 1, 1, "SC606", f"cannot read the database: {one_line(exc)}") from None


def refuse_standby(database: Database, target: Target, verb: str) -> None:
    """SC640 (exit 2) when ``target`` is a standby: ``verb`` writes, and only its primary takes writes."""
    if read_replay(database, target) is None:
        return
    raise fail(
        target.shown,
        1,
        1,
        "SC640",
        f"{verb} refused: {target.shown} is a read-only standby (it replays its primary's log); "
        f"point {verb} at the primary",
        "the standby receives every change by replication: check it with 'schemac verify --wait-for-replay SECONDS'",
    )


def primary_position(primary: Database, target: Target, standby: Replay) -> str:
    """The end of the log ``primary`` has flushed, once it is shown to be of the standby's cluster (SC642;
    not checked where the role may not read a cluster's identity)."""
    try:
        cluster, position = primary.log_position()
    except primary.driver_error as exc:
        raise fail(primary.target.shown, 1, 1, "SC606", f"cannot read the database: {one_line(exc)}") from None
    if cluster != standby.cluster and None not in (cluster, standby.cluster):
        raise fail(
            primary.target.shown,
            1,
            1,
            "SC642",
            f"--primary {primary.target.shown} is not the primary of {target.shown}: its cluster is {cluster}, "
            f"the standby's {standby.cluster}",
            "pass the URL of the server the standby replicates from (primary_conninfo in its settings)",
        )
    return position


def wait_until_replayed(
    database: Database, target: Target, timeout: float, standby: Replay, goal: str | None = None
) -> Replay | None:
    """Wait up to ``timeout`` seconds until the standby has replayed its log up to ``goal`` (the primary's
    :func:`primary_position`); without one, up to what it had received when the wait started (as of the
    first read with its WAL receiver connected), so that a primary that keeps writing does not keep
    the goal moving (:func:`_reached`). SC641 (exit 1) on timeout. Returns where it is then (``None``:
    promoted meanwhile, so no longer a standby)."""
    if not (math.isfinite(timeout) and timeout >= 0):
        raise ValueError(f"the wait must be a number of seconds from 0, not {timeout}")
    deadline = time.monotonic() + timeout
    own_goal = goal is None
    replay: Replay | None = standby
    before: Replay | None = None
    while replay is not None:
        if own_goal and goal is None and replay.receiving:
            goal = replay.received
        if goal is not None and _reached(replay, before, goal):
            break
        left = deadline - time.monotonic()
        if left <= 0:
            raise SchemacError([_timed_out(target, timeout, replay, goal, own_goal)], EXIT_FINDINGS)
        time.sleep(min(POLL_INTERVAL, left))
        before, replay = replay, read_replay(database, target)
    return replay


def _reached(replay: Replay, before: Replay | None, goal: str) -> bool:
    """Whether the standby has replayed up to ``goal``; or, having received it, has nothing left to replay:
    its replay waited for more log on two reads in a row (``before`` and ``replay``) that found the same
    positions, as when what it received ends past its last record (the rest of a log page)."""
    if log_offset(replay.replayed) >= log_offset(goal):
        return True
    if before is None or not (before.waiting and replay.waiting) or replay.received is None:
        return False
    settled = (before.received, before.replayed) == (replay.received, replay.replayed)
    return settled and log_offset(replay.received) >= log_offset(goal)


def _timed_out(target: Target, timeout: float, replay: Replay, goal: str | None, own_goal: bool) -> Diagnostic:
    if goal is None:
        receiver = "none received yet" if replay.receiving else "no WAL receiver connected to it"
        wanted = f"the log its primary sends ({receiver})"
    elif own_goal:
        wanted = f"up to {goal}, what it had received when the wait started"
    else:
        wanted = f"up to {goal}, where the primary's log was when the wait started"
    return Diagnostic(
        target.shown,
        1,
        1,
        "SC641",
        f"--wait-for-replay {timeout:g}: {target.shown} did not replay {wanted}, in time; {replay}",
        "check the replication (pg_stat_wal_receiver on the standby, pg_stat_replication on the primary), "
        "or wait longer",
    )
