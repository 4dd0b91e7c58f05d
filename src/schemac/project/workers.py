"""A pool of forked worker processes for the pipeline's per-item work (reading specs, rendering versions).

:func:`in_chunks` runs ``work(start, stop)`` over a range, on every usable core once there are enough
items (``SCHEMAC_WORKERS`` sets how many; 1 keeps everything in this process). Workers are forked, so
they share what this process already holds (modules, specs, plans) and only their results travel
back, pickled. The work in flight is module state (``_task``), set for the length of one call; a
worker dies with the process that forked it. Workers write no files.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


@contextmanager
def gc_paused() -> Iterator[None]:
    """The model is many small immutable objects; collecting during the build only costs time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_PARALLEL_FROM = 64
"""Below this many items, work stays in this process: starting workers would cost more than it saves."""
_task: Callable[[int, int], list[Any]] | None = None
_in_worker = False
"""True in a worker process of :func:`in_chunks`, whose results travel back pickled."""


def in_worker() -> bool:
    """Whether this process is a worker of :func:`in_chunks` (its results travel back pickled)."""
    return _in_worker


def _become_worker(parent: int) -> None:
    """Initializer of a worker forked by ``parent``: results travel back pickled, and the worker dies
    with ``parent`` (a SIGKILLed build must not leave workers behind; the project lock, which they
    never hold, is closed in them by :mod:`schemac.project.files` at the fork)."""
    global _in_worker
    _in_worker = True
    _die_with_parent(parent)


_PR_SET_PDEATHSIG = 1
"""Linux ``prctl`` option: the signal a process receives when the thread that forked it ends."""


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when ``parent`` dies (Linux; elsewhere only the check below),
    and exit at once if it already has (it then died before the request took effect)."""
    import sys

    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _run_task(bounds: tuple[int, int]) -> list[Any]:
    assert _task is not None
    with gc_paused():
        return _task(*bounds)


def _workers() -> int:
    """Worker processes to use: ``SCHEMAC_WORKERS`` when set (1 turns them off), else one per usable core."""
    setting = os.environ.get("SCHEMAC_WORKERS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def in_chunks(work: Callable[[int, int], list[T]], count: int, done: Callable[[int], None] = lambda _: None) -> list[T]:
    """``work(start, stop)`` over ``range(count)``, concatenated in order; on every core when it pays.

    ``done(i)`` is called in this process, in order, as each item's result arrives. Workers are
    forked, so they share what this process already holds (modules, specs, plans) and only the
    results travel back.
    """
    global _task
    workers = _workers() if count >= _PARALLEL_FROM else 1
    if workers > 1:
        import multiprocessing  # here, not at the top: a small build never pays for importing it
        from concurrent.futures import ProcessPoolExecutor

        if "fork" not in multiprocessing.get_all_start_methods():
            workers = 1
    parallel = workers > 1
    size = max(8, count // (workers * 8)) if parallel else 1
    bounds = [(start, min(start + size, count)) for start in range(0, count, size)]
    results: list[T] = []
    _task = work
    try:
        with (
            ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_become_worker,
                initargs=(os.getpid(),),
            )
            if parallel
            else (contextlib.nullcontext()) as pool
        ):
            parts = pool.map(_run_task, bounds) if pool is not None else map(_run_task, bounds)
            for (start, stop), part in zip(bounds, parts, strict=True):
                results.extend(part)
                for i in range(start, stop):
                    done(i)
    finally:
        _task = None
    return results


class ChildTimeout(Exception):
    """:func:`in_child`'s work did not finish in time (it was killed)."""


CHILD_MEMORY_BYTES = 2 * 1024**3
"""The address space a child of :func:`in_child` may take (``RLIMIT_AS``)."""


def in_child(work: Callable[[], T], seconds: float) -> T:
    """``work()`` in a forked child process that dies with this one, takes at most
    :data:`CHILD_MEMORY_BYTES` and is killed after ``seconds`` (:class:`ChildTimeout`); its result, or
    the exception it raised, travels back pickled. Where there is no ``fork``, it runs here."""
    if not hasattr(os, "fork"):
        return work()
    import pickle
    import select
    import signal
    import time

    parent = os.getpid()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        status = 0
        try:
            os.close(reader)
            _die_with_parent(parent)
            with contextlib.suppress(ImportError, ValueError, OSError):
                import resource

                resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
            try:
                outcome: tuple[bool, Any] = (True, work())
            except Exception as error:
                outcome = (False, error)
            with os.fdopen(writer, "wb") as pipe:
                pipe.write(pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL))
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(writer)
    deadline = time.monotonic() + seconds
    data = bytearray()
    try:
        with os.fdopen(reader, "rb", buffering=0) as pipe:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([pipe], [], [], left)[0]:
                    os.kill(pid, signal.SIGKILL)
                    raise ChildTimeout(f"it takes more than {seconds:g} seconds")
                chunk = pipe.read(1 << 16)
                if not chunk:
                    break
                data += chunk
    finally:
        os.waitpid(pid, 0)
    if not data:
        raise ChildTimeout("it ran out of memory or was killed")
    ok, value = pickle.loads(bytes(data))
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]
