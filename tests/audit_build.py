"""Run ``schemac.build`` under an audit hook, to kill or pause a real build at an exact file operation.

Usage: python audit_build.py PROJECT EVENT MATCH NUMBER ACTION [LOG]

Counts audit events named EVENT whose first argument is a path under PROJECT containing MATCH; at
the NUMBER-th one, ACTION happens: ``kill`` (SIGKILL this process), ``pause`` (create PROJECT/../paused, then
wait until PROJECT/../go exists) or ``none``. With LOG, every such event is appended to LOG as ``pid event path``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any


def main(project: str, event_name: str, match: str, number: int, action: str, log: str | None = None) -> None:
    root = Path(project).resolve()
    seen = 0

    def hook(event: str, args: tuple[Any, ...]) -> None:
        nonlocal seen
        if not args or not isinstance(args[0], str | bytes | os.PathLike):
            return
        path = os.fsdecode(args[0])
        if not path.startswith(str(root)):
            return
        if log is not None and event in ("open", "os.rename", "os.link", "os.remove", "shutil.rmtree"):
            with open(log, "a", encoding="utf-8") as handle:  # an open outside the project: not re-entered
                handle.write(f"{os.getpid()} {event} {path}\n")
        if event != event_name or match not in path:
            return
        seen += 1
        if seen != number:
            return
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "pause":
            (root.parent / "paused").touch()
            while not (root.parent / "go").exists():
                time.sleep(0.01)

    sys.addaudithook(hook)
    import schemac

    result = schemac.build(root)
    print(f"{len(result.written)} written")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], *sys.argv[6:7])
