"""A throwaway three-node MariaDB Galera cluster on loopback ports, for the tests of ``test_galera.py``.

Each node has its own data directory, socket and ports under one temporary directory. Node 1
bootstraps the cluster (``--wsrep-new-cluster``) from a fresh ``mariadb-install-db``; nodes 2 and 3
join it and receive its state by rsync. Every wait is bounded, and a node that does not come up has
its log printed in the failure. :meth:`GaleraCluster.stop` kills each node's process group and
removes the directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
SERVER = Path("/usr/sbin/mariadbd")
NODES = 3
START_TIMEOUT = 90.0
"""Seconds the whole cluster may take to reach three synced nodes."""


def missing_parts() -> str:
    """What this machine lacks to run the cluster ('' when nothing)."""
    needed = {"the Galera provider": PROVIDER, "mariadbd": SERVER}
    lacking = [f"{what} ({path})" for what, path in needed.items() if not path.exists()]
    lacking += [tool for tool in ("mariadb-install-db", "rsync", "wsrep_sst_rsync") if shutil.which(tool) is None]
    try:
        import pymysql  # noqa: F401
    except ImportError:
        lacking.append("PyMySQL")
    return ", ".join(lacking)


def free_ports(count: int) -> list[int]:
    """``count`` loopback ports nothing listens on now (bound together, so they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Node:
    number: int
    home: Path
    port: int
    group_port: int
    ist_port: int
    sst_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "error.log"

    def config(self, cluster: str) -> str:
        options = ";".join(
            (
                f"gmcast.listen_addr=tcp://127.0.0.1:{self.group_port}",
                f"ist.recv_addr=127.0.0.1:{self.ist_port}",
                "gcache.size=16M",
                "evs.suspect_timeout=PT5S",
                "evs.inactive_timeout=PT10S",
                "pc.wait_prim_timeout=PT30S",
            )
        )
        return "\n".join(
            (
                "[mysqld]",
                f"datadir={self.home / 'data'}",
                f"socket={self.home / 'mysqld.sock'}",
                f"pid-file={self.home / 'mysqld.pid'}",
                f"log-error={self.log}",
                f"port={self.port}",
                "bind-address=127.0.0.1",
                "user=root",
                "skip-name-resolve",
                "performance_schema=OFF",
                "innodb_buffer_pool_size=32M",
                "innodb_log_file_size=16M",
                "innodb_flush_log_at_trx_commit=0",
                "binlog_format=ROW",
                "default_storage_engine=InnoDB",
                "innodb_autoinc_lock_mode=2",
                "wsrep_on=ON",
                f"wsrep_provider={PROVIDER}",
                f"wsrep_cluster_name=schemac_test_{os.getpid()}",
                f"wsrep_cluster_address={cluster}",
                f"wsrep_node_name=node{self.number}",
                f"wsrep_node_address=127.0.0.1:{self.group_port}",
                f"wsrep_provider_options={options}",
                "wsrep_sst_method=rsync",
                f"wsrep_sst_receive_address=127.0.0.1:{self.sst_port}",
                "",
            )
        )

    def url(self, database: str) -> str:
        return f"mariadb://root@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", database=database, autocommit=True, connect_timeout=5
        )

    def status(self) -> dict[str, str]:
        """The node's ``wsrep_%`` status, or {} while it does not answer."""
        try:
            con = self.connect()
        except Exception:
            return {}
        try:
            with con.cursor() as cursor:
                cursor.execute("SHOW STATUS LIKE 'wsrep_%'")
                return {str(name): str(value) for name, value in cursor.fetchall()}
        except Exception:
            return {}
        finally:
            con.close()


@dataclass
class GaleraCluster:
    root: Path
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def start(cls) -> GaleraCluster:
        """Start three nodes and wait until each is synced in a cluster of three (or raise, with the logs)."""
        root = Path(tempfile.mkdtemp(prefix="schemac-galera-"))
        root.chmod(0o755)  # rsync's daemon, run as root, writes a joiner's files as nobody
        ports = free_ports(4 * NODES)
        cluster = cls(root)
        for number in range(1, NODES + 1):
            home = root / f"node{number}"
            (home / "data").mkdir(parents=True)
            (home / "data").chmod(0o777)
            cluster.nodes.append(Node(number, home, *ports[4 * (number - 1) : 4 * number]))
        try:
            cluster._boot()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _boot(self) -> None:
        address = "gcomm://" + ",".join(f"127.0.0.1:{node.group_port}" for node in self.nodes)
        first = self.nodes[0]
        for node in self.nodes:
            (node.home / "my.cnf").write_text(node.config(address), encoding="utf-8")
        subprocess.run(
            [
                "mariadb-install-db",
                f"--defaults-file={first.home / 'my.cnf'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--wsrep-on=OFF",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        deadline = time.monotonic() + START_TIMEOUT
        self._launch(first, "--wsrep-new-cluster")
        self._wait(deadline, [first], 1)
        for node in self.nodes[1:]:
            self._launch(node)
        self._wait(deadline, self.nodes, NODES)

    def _launch(self, node: Node, *extra: str) -> None:
        node.process = subprocess.Popen(
            [str(SERVER), f"--defaults-file={node.home / 'my.cnf'}", *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait(self, deadline: float, nodes: list[Node], size: int) -> None:
        while True:
            states = [node.status() for node in nodes]
            if all(
                s.get("wsrep_ready") == "ON"
                and s.get("wsrep_cluster_size") == str(size)
                and s.get("wsrep_local_state_comment") == "Synced"
                for s in states
            ):
                return
            dead = [node for node in nodes if node.process is not None and node.process.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"node{dead[0].number} exited" if dead else f"not synced after {START_TIMEOUT:g} s"
                raise RuntimeError(f"Galera cluster did not start: {why}\n{self.logs()}")
            time.sleep(0.3)

    def wait_synced(self) -> None:
        """Wait until every node is synced in a cluster of three again (or raise, with the logs)."""
        self._wait(time.monotonic() + START_TIMEOUT, self.nodes, NODES)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Poll until ``condition`` holds (a safety limit, not a timed assertion)."""
        deadline = time.monotonic() + START_TIMEOUT
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"gave up waiting for {what}\n{self.logs()}")
            time.sleep(0.1)

    def logs(self) -> str:
        """The tail of each node's error log."""
        parts = []
        for node in self.nodes:
            text = node.log.read_text(errors="replace") if node.log.exists() else "(no log)"
            parts.append(f"--- node{node.number} ({node.log}) ---\n" + "\n".join(text.splitlines()[-40:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Kill every node's process group, wait for it, and remove the cluster's directory."""
        for node in self.nodes:
            if node.process is None:
                continue
            with suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)
