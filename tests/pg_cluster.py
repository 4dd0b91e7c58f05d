"""A PostgreSQL primary and its streaming standby, each a server of its own on a free loopback port.

The servers run from a temporary directory, as the ``postgres`` user when the tests run as root
(``initdb`` and ``postgres`` refuse root). The primary is made with ``initdb``, ``wal_level = replica``
and a ``pg_hba.conf`` line that lets 127.0.0.1 replicate; the standby with ``pg_basebackup -R`` from
it. Every wait is bounded, a server's log is shown when it fails, and :meth:`Cluster.stop` stops both
(``pg_ctl stop -m immediate``) and removes the directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

STARTUP_TIMEOUT = 30
"""Seconds each step (``initdb``, a start, the base backup, the standby streaming) may take."""
DATABASE = "test"

_SETTINGS = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
synchronous_commit = on
shared_buffers = 16MB
max_connections = 30
logging_collector = off
"""


class ClusterError(Exception):
    """A step that failed, with what the servers logged."""


def binaries() -> Path | None:
    """The directory of PostgreSQL's server programs: ``SCHEMAC_TEST_PG_BIN``, else ``pg_config --bindir``,
    else the newest ``/usr/lib/postgresql/*/bin`` holding them; ``None`` when there is none."""
    wanted = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
    candidates = [os.environ.get("SCHEMAC_TEST_PG_BIN", "")]
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
        candidates.append(found.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    return next((Path(c) for c in candidates if c and all((Path(c) / w).is_file() for w in wanted)), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Cluster:
    bin: Path
    root: Path
    primary_port: int = 0
    standby_port: int = 0
    started: list[Path] = field(default_factory=list)

    @property
    def primary_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}/{DATABASE}"

    @property
    def standby_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.standby_port}/{DATABASE}"

    def _run(self, *args: str | Path) -> None:
        command = [str(self.bin / str(args[0])), *map(str, args[1:])]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=STARTUP_TIMEOUT, cwd=self.root)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"{' '.join(command)} took over {STARTUP_TIMEOUT} s\n{self.logs()}") from exc
        if done.returncode:
            raise ClusterError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}:\n{log.read_text(errors='replace')[-4000:]}" for log in sorted(self.root.glob("*.log"))
        )

    def _start(self, data: Path) -> None:
        self.started.append(data)
        self._run("pg_ctl", "start", "-w", "-t", STARTUP_TIMEOUT, "-D", data, "-l", self.root / f"{data.name}.log")

    def start(self) -> None:
        """The primary, a database ``test`` on it, then the standby, streaming."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        primary, standby = self.root / "primary", self.root / "standby"
        self._run("initdb", "-D", primary, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.primary_port = free_port()
        with open(primary / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(_SETTINGS.format(port=self.primary_port, sockets=self.root))
        with open(primary / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        self._start(primary)
        self._sql(self.primary_port, "postgres", f"CREATE DATABASE {DATABASE}")
        self._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", self.primary_port, "-U", "postgres", "-D", standby),
            *("-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
        )
        self.standby_port = free_port()
        with open(standby / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = {self.standby_port}\n")
        self._start(standby)
        self.wait_until_streaming()

    def _sql(self, port: int, database: str, sql: str) -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=port, user="postgres", dbname=database, autocommit=True, connect_timeout=5
        ) as connection:
            cursor = connection.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def on_primary(self, sql: str) -> list[tuple[object, ...]]:
        return self._sql(self.primary_port, DATABASE, sql)

    def on_standby(self, sql: str) -> list[tuple[object, ...]]:
        return self._sql(self.standby_port, DATABASE, sql)

    def wait_until_streaming(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.on_standby("SELECT status FROM pg_stat_wal_receiver") == [("streaming",)]:
                    return
            except Exception:  # not accepting connections yet
                pass
            time.sleep(0.1)
        raise ClusterError(f"the standby did not stream from the primary in {STARTUP_TIMEOUT} s\n{self.logs()}")

    def wait_until_replayed(self) -> None:
        """Until the standby has replayed the primary's log as it is now."""
        position = self.on_primary("SELECT pg_current_wal_flush_lsn()::text")[0][0]
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.on_standby(f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn") == [(True,)]:
                return
            time.sleep(0.05)
        raise ClusterError(f"the standby did not replay up to {position} in {STARTUP_TIMEOUT} s\n{self.logs()}")

    def stop(self) -> None:
        """Both servers stopped at once (their data is thrown away), and the directory removed."""
        for data in reversed(self.started):
            with suppress(ClusterError):  # it did not start, or is gone already
                self._run("pg_ctl", "stop", "-m", "immediate", "-D", data)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    """A running primary and standby (see :class:`Cluster`); ClusterError, with the logs, when one will not start.

    Raises LookupError when the PostgreSQL server programs are not installed."""
    found = binaries()
    if found is None:
        raise LookupError("the PostgreSQL server programs (initdb, pg_ctl, pg_basebackup) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise LookupError("running as root, and runuser (to run the servers as postgres) is not installed")
    cluster = Cluster(found, Path(tempfile.mkdtemp(prefix="schemac-standby-")))
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
