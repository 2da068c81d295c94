"""The statsd flavor's config.js run by a real Etsy StatsD server on loopback.

The test moves the server's listen addresses and management port to free
loopback ports, because a pod's fixed ports (0.0.0.0, 8126) may be taken on a
shared test machine. Every other setting is the operator's.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from statsd_operator.shardconfig import build_statsd_config
from statsd_operator.spec import ADMIN_PORT, parse_spec

from tests.support.pipeline_process import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    free_udp_port,
    wait_for,
)
from tests.support.pipeline_statsd import node_path, statsd_js_path

SHARD = "main-statsd-0"
START_SECONDS = 15.0
FLUSH_SECONDS = 10.0


class GraphiteReceiver(socketserver.ThreadingTCPServer):
    """A Graphite plaintext receiver on loopback that keeps every line."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _GraphiteHandler)
        self.lines: list[str] = []

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port


class _GraphiteHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        assert isinstance(self.server, GraphiteReceiver)
        for raw in self.rfile:
            self.server.lines.append(raw.decode(errors="replace").strip())


@pytest.fixture
def graphite() -> Iterator[GraphiteReceiver]:
    receiver = GraphiteReceiver()
    thread = threading.Thread(target=receiver.serve_forever, name="graphite", daemon=True)
    thread.start()
    yield receiver
    receiver.shutdown()
    receiver.server_close()
    thread.join(timeout=5)


def loopback_config(text: str, admin_port: int) -> str:
    """Return the operator's config.js with loopback addresses and a free admin port."""
    moved = text.replace('"0.0.0.0"', json.dumps(LOOPBACK))
    return moved.replace(f'"mgmt_port": {ADMIN_PORT}', f'"mgmt_port": {admin_port}')


def admin_health(port: int) -> str | None:
    with socket.create_connection((LOOPBACK, port), timeout=2) as connection:
        connection.sendall(b"health\n")
        return connection.recv(100).decode() or None


def test_statsd_flushes_with_prefix(tmp_path: Path, graphite: GraphiteReceiver) -> None:
    node = node_path()
    script = statsd_js_path()
    if node is None or not script.is_file():
        pytest.skip("node and Etsy StatsD are not installed; run scripts/install-test-deps")
    port, admin_port = free_udp_port(), free_port()
    spec = parse_spec(
        {
            "port": port,
            "flushIntervalSeconds": 1,
            "sink": {"graphite": {"host": LOOPBACK, "port": graphite.port}},
        }
    )
    config = tmp_path / "config.js"
    config.write_text(loopback_config(build_statsd_config(spec, "main"), admin_port))
    process = ManagedProcess(
        "statsd",
        [node, str(script), str(config)],
        tmp_path / "statsd.log",
        env={"STATSD_SHARD_NAME": SHARD, "PATH": "/usr/bin:/bin"},
        cwd=script.parent,
    )

    try:
        health = process.wait_for(lambda: admin_health(admin_port), START_SECONDS, "health")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for _ in range(3):
                sender.sendto(b"users.logins:1|c", (LOOPBACK, port))
        line = wait_for(
            lambda: next((x for x in graphite.lines if "users.logins.count" in x), None),
            FLUSH_SECONDS,
            "StatsD flushed the counter to the Graphite receiver",
        )
    finally:
        process.stop()

    assert "health: up" in health
    assert line.split()[0] == f"{SHARD}.counters.users.logins.count"
    assert line.split()[1] == "3"
