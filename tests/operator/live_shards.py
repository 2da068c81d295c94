"""Etsy StatsD servers standing in for shard pods, each on its pod's loopback address.

The test plays the kubelet. For each shard pod that the StatefulSet controller
creates, it starts a real Etsy StatsD 0.9 with the configuration that the
operator wrote into the shard ConfigMap. Only two settings change, where a
loopback process differs from a pod. The listen address becomes the pod's IP,
and the management interface moves to a free port on 127.0.0.1 because 8126
may be taken on a shared machine. The pod name goes into STATSD_SHARD_NAME,
where the downward API puts it in a cluster, so every key that the shard
flushes starts with the pod name.

Etsy StatsD 0.9 (stats.js) flushes at its start second, the Unix time of module
load rounded to whole seconds, plus whole multiples of ``flushInterval``. It
does not count from the epoch. The operator puts ring switches on multiples of
the interval since the epoch. `ShardFleet.start` therefore launches servers
just before such a boundary, reads each server's first flush to check that its
ticks fall on the boundaries, and relaunches a server whose start second was
rounded to the wrong side.
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from statsd_operator import names
from statsd_operator.spec import ADMIN_PORT

from tests.operator.harness import CLUSTER, NAMESPACE
from tests.operator.live_graphite import Flush, GraphiteReceiver
from tests.support.kube_api import KubeApi
from tests.support.pipeline_process import LOOPBACK, ManagedProcess, free_port
from tests.support.pipeline_statsd import node_path, statsd_js_path

CONFIG_KEY = "config.js"
# A launch this long before a boundary rounds the start second to that boundary
# whenever node needs less than 0.7 s to reach that line of stats.js. Node 20
# ran its first line 25 to 80 ms after launch on the 2-core test machines.
LAUNCH_LEAD = 0.2
# A server whose first flush lands further than this from a boundary started
# on the wrong second (about a second off with 2 s flushes) and is relaunched.
MAX_START_OFFSET = 0.3
START_ATTEMPTS = 3
HEALTH_SECONDS = 15.0
FIRST_FLUSH_SLACK = 3.0


def nearest_boundary(moment: float, interval: float) -> float:
    """Return the multiple of ``interval`` since the Unix epoch nearest to ``moment``."""
    return round(moment / interval) * interval


def flush_offset(flush: Flush, interval: float) -> float:
    """Return how far a flush arrived from the nearest epoch boundary, in seconds."""
    return flush.received_at - nearest_boundary(flush.received_at, interval)


def operator_shard_config(kube_api: KubeApi) -> str:
    """Return the config.js that the operator wrote into the shard ConfigMap."""
    config_map = kube_api.get("configmaps", names.config_map_name(CLUSTER), NAMESPACE)
    if config_map is None:
        raise LookupError(f"ConfigMap {names.config_map_name(CLUSTER)} not found")
    text: str = config_map["data"][CONFIG_KEY]
    return text


def pod_config(operator_config: str, pod_ip: str, admin_port: int) -> str:
    """Return the operator's config.js listening on ``pod_ip`` with a loopback admin port."""
    text = _replace_once(operator_config, '"address": "0.0.0.0"', f'"address": "{pod_ip}"')
    text = _replace_once(text, '"mgmt_address": "0.0.0.0"', f'"mgmt_address": "{LOOPBACK}"')
    return _replace_once(text, f'"mgmt_port": {ADMIN_PORT}', f'"mgmt_port": {admin_port}')


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"expected {old!r} once in the shard config, got:\n{text}")
    return text.replace(old, new)


@dataclasses.dataclass
class ShardServer:
    """One running StatsD server standing in for one shard pod."""

    name: str
    pod_ip: str
    admin_port: int
    process: ManagedProcess
    # The epoch boundary that the server was launched just before.
    boundary: float

    def healthy(self) -> bool | None:
        """Return True once the admin interface replies ``health: up`` (a wait_for probe)."""
        self.process.check_running()
        with socket.create_connection((LOOPBACK, self.admin_port), timeout=2) as connection:
            connection.sendall(b"health\n")
            reply = connection.recv(100).decode(errors="replace")
        return True if "health: up" in reply else None


class ShardFleet:
    """Starts, checks and stops the StatsD servers of the shard pods."""

    def __init__(self, receiver: GraphiteReceiver, workdir: Path, interval: float) -> None:
        node = node_path()
        if node is None:
            raise FileNotFoundError("node not found on PATH")
        self.node = node
        self.script = statsd_js_path()
        self.receiver = receiver
        self.workdir = workdir
        self.interval = interval
        self.servers: dict[str, ShardServer] = {}
        self.launches = 0
        # (pod name, launch time, stop time) of servers relaunched for starting
        # off the boundaries. They never received traffic, so checks skip them.
        self.rejected: list[tuple[str, float, float]] = []

    def start(self, pods: Sequence[tuple[str, str]], operator_config: str) -> None:
        """Start one server per (pod name, pod IP) with ticks on epoch boundaries.

        Blocks until every server is healthy and has flushed once on a
        boundary. Raises RuntimeError when a server still starts off the
        boundaries after START_ATTEMPTS launches.
        """
        waiting = list(pods)
        for _ in range(START_ATTEMPTS):
            started = self._launch_before_boundary(waiting, operator_config)
            misaligned = [server for server in started if not self._first_flush_aligned(server)]
            for server in misaligned:
                self.stop(server.name)
                launched_at = server.boundary - LAUNCH_LEAD
                self.rejected.append((server.name, launched_at, time.time()))
            waiting = [(server.name, server.pod_ip) for server in misaligned]
            if not waiting:
                return
        raise RuntimeError(
            f"StatsD servers {[name for name, _ in waiting]} flushed more than "
            f"{MAX_START_OFFSET} s off the epoch boundaries in {START_ATTEMPTS} launches"
        )

    def from_rejected_launch(self, flush: Flush) -> bool:
        """Return whether a flush came from a server that was relaunched."""
        return any(
            name == flush.shard and start <= flush.received_at <= end
            for name, start, end in self.rejected
        )

    def stop(self, name: str) -> None:
        """Stop and reap one server."""
        server = self.servers.pop(name)
        server.process.stop()

    def close(self) -> None:
        """Stop and reap every server."""
        for name in list(self.servers):
            self.stop(name)

    def _launch_before_boundary(
        self, pods: Sequence[tuple[str, str]], operator_config: str
    ) -> list[ShardServer]:
        earliest = time.time() + LAUNCH_LEAD + 0.05
        boundary = math.ceil(earliest / self.interval) * self.interval
        time.sleep(max(0.0, boundary - LAUNCH_LEAD - time.time()))
        started = [self._launch(name, ip, operator_config, boundary) for name, ip in pods]
        for server in started:
            server.process.wait_for(server.healthy, HEALTH_SECONDS, "health: up")
        return started

    def _launch(self, name: str, pod_ip: str, operator_config: str, boundary: float) -> ShardServer:
        self.launches += 1
        admin_port = free_port()
        config = self.workdir / f"{name}-{self.launches}.config.js"
        config.write_text(pod_config(operator_config, pod_ip, admin_port))
        env = {"STATSD_SHARD_NAME": name, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        process = ManagedProcess(
            f"statsd {name}",
            [self.node, str(self.script), str(config)],
            self.workdir / f"{name}-{self.launches}.log",
            env=env,
            cwd=self.script.parent,
        )
        server = ShardServer(name, pod_ip, admin_port, process, boundary)
        self.servers[name] = server
        return server

    def _first_flush_aligned(self, server: ShardServer) -> bool:
        def first_flush() -> Flush | None:
            server.process.check_running()
            flushes = self.receiver.flushes(server.name)
            return next((f for f in flushes if f.received_at > server.boundary), None)

        seconds = server.boundary + self.interval + FIRST_FLUSH_SLACK - time.time()
        flush = server.process.wait_for(first_flush, seconds, "first flush to the receiver")
        return abs(flush_offset(flush, self.interval)) <= MAX_START_OFFSET
