"""Etsy StatsD 0.9 shards for the pipeline tests, each flushing into InfluxDB.

Each shard is one `node stats.js CONFIG.js` process with its own UDP port and
management port on 127.0.0.1 and its name as the graphite global prefix, so
InfluxDB tags everything it flushes with `shard=<name>`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.pipeline_influxdb import InfluxDB
from tests.support.pipeline_process import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    free_udp_port,
)

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATSD_JS = REPOSITORY_ROOT / ".deps" / "node" / "node_modules" / "statsd" / "stats.js"
CONFIG_PATH = Path(__file__).with_name("statsd_shard_config.js")
# NOTE: StatsD 0.9 flushes on whole seconds and stamps each flush with the rounded
# second. A flush that runs over 500 ms late shares its second with the next one, and
# InfluxDB keeps only the later write, so a heavily loaded machine can lose counts.
# The shard's own gauge statsd.timestamp_lag reads -1 after such a flush.
FLUSH_INTERVAL_MS = 1000
START_TIMEOUT = 15.0
ADMIN_TIMEOUT = 2.0

# A shard name becomes the first part of every flushed graphite key, so it may not
# contain the key separator or characters that graphite or InfluxDB would alter.
SHARD_NAME = re.compile(r"[A-Za-z0-9_-]+")


def statsd_js_path() -> Path:
    """Return the StatsD server script: env STATSD_JS, else the copy under .deps/."""
    override = os.environ.get("STATSD_JS")
    return Path(override) if override else DEFAULT_STATSD_JS


def node_path() -> str | None:
    """Return the path of node on PATH, or None."""
    return shutil.which("node")


@dataclass
class StatsdShard:
    """One running StatsD server."""

    name: str
    port: int
    mgmt_port: int
    process: ManagedProcess

    @property
    def address(self) -> tuple[str, int]:
        """UDP address the shard receives StatsD lines on."""
        return (LOOPBACK, self.port)

    def admin(self, command: str) -> str:
        """Send one command to the management interface and return the first reply line."""
        with socket.create_connection((LOOPBACK, self.mgmt_port), timeout=ADMIN_TIMEOUT) as conn:
            conn.sendall(command.encode() + b"\n")
            reply = b""
            while b"\n" not in reply:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.decode(errors="replace").split("\n", 1)[0]

    def healthy(self) -> bool | None:
        """Return True once `health` replies `health: up`, None otherwise (a wait_for probe)."""
        self.process.check_running()
        return True if self.admin("health") == "health: up" else None


def _start_shard(name: str, influxdb: InfluxDB, node: str, workdir: Path) -> StatsdShard:
    if not SHARD_NAME.fullmatch(name):
        raise ValueError(f"invalid shard name {name!r}: use letters, digits, '_' and '-'")
    port, mgmt_port = free_udp_port(), free_port()
    env = dict(os.environ)
    env.update(
        STATSD_SHARD_NAME=name,
        STATSD_SHARD_PORT=str(port),
        STATSD_SHARD_MGMT_PORT=str(mgmt_port),
        STATSD_SHARD_GRAPHITE_PORT=str(influxdb.graphite_port),
        STATSD_SHARD_FLUSH_INTERVAL_MS=str(FLUSH_INTERVAL_MS),
    )
    argv = [node, str(statsd_js_path()), str(CONFIG_PATH)]
    process = ManagedProcess(f"statsd {name}", argv, workdir / f"statsd-{name}.log", env=env)
    return StatsdShard(name, port, mgmt_port, process)


@contextlib.contextmanager
def run_statsd_shards(
    influxdb: InfluxDB, names: Sequence[str], workdir: Path
) -> Iterator[list[StatsdShard]]:
    """Start one shard per name and wait until all are healthy; always stop and reap them.

    StatsD does not flush on SIGTERM, so callers query InfluxDB before leaving the block.
    """
    if len(set(names)) != len(names):
        raise ValueError(f"shard names must differ, got {list(names)!r}")
    node = node_path()
    if node is None:
        raise FileNotFoundError("node not found on PATH")
    shards: list[StatsdShard] = []
    try:
        for name in names:
            shards.append(_start_shard(name, influxdb, node, workdir))
        for shard in shards:
            shard.process.wait_for(
                shard.healthy, START_TIMEOUT, f"'health: up' on port {shard.mgmt_port}"
            )
        yield shards
    finally:
        for shard in shards:
            shard.process.stop()
