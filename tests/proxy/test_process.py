"""``statsd-proxy run`` as a real process: signals, flushing, workers, metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from statsd_proxy.hashring import ConsistentRing
from statsd_proxy.lines import series_key

from tests.proxy.receivers import UdpReceiver, settle
from tests.support.pipeline_process import free_port, wait_for
from tests.support.pipeline_proxy import proxy_command, run_proxy


def owner_of(receivers: list[UdpReceiver], line: bytes) -> str:
    key = series_key(line)
    assert key is not None
    return ConsistentRing(r.name for r in receivers).lookup(key)


def test_sigterm_flushes_batches(
    receivers: list[UdpReceiver], sender: socket.socket, tmp_path: Path
) -> None:
    lines = [b"flush.test.%d:1|c" % index for index in range(30)]

    with run_proxy(receivers, tmp_path, ["--flush-interval-ms", "1000"]) as proxy:
        sender.sendto(b"\n".join(lines), proxy.address)
        time.sleep(0.2)
        before = sum(len(r.lines) for r in receivers)
        proxy.process.popen.send_signal(signal.SIGTERM)
        exit_code = proxy.process.popen.wait(timeout=10)
    settle(receivers, len(lines))
    log = proxy.process.log_tail(5000)

    assert before == 0
    assert exit_code == 0
    assert sorted(line for r in receivers for line in r.lines) == sorted(lines)
    assert '"event": "stopped"' in log
    assert '"lines_forwarded": 30' in log


def test_sigint_exits_zero(receivers: list[UdpReceiver], tmp_path: Path) -> None:
    with run_proxy(receivers, tmp_path) as proxy:
        proxy.process.popen.send_signal(signal.SIGINT)
        exit_code = proxy.process.popen.wait(timeout=10)

    assert exit_code == 0


def test_metrics_count_per_member(
    receivers: list[UdpReceiver], sender: socket.socket, tmp_path: Path
) -> None:
    lines = [b"metrics.series.%d:1|c" % index for index in range(200)]

    with run_proxy(receivers, tmp_path) as proxy:
        sender.sendto(b"\n".join(lines[:100]), proxy.address)
        sender.sendto(b"\n".join(lines[100:]) + b"\nnot statsd\n\n", proxy.address)
        settle(receivers, len(lines))
        forwarded = {
            labels["member"]: value
            for labels, value in proxy.samples("statsd_proxy_lines_forwarded_total")
        }
        dropped = {
            labels["reason"]: value
            for labels, value in proxy.samples("statsd_proxy_lines_dropped_total")
        }
        version = proxy.samples("statsd_proxy_ring_version")
        health = proxy.http_get("/healthz")

    assert forwarded == {r.name: float(len(r.lines)) for r in receivers}
    assert dropped["invalid"] == 1
    assert dropped["blank"] == 1
    assert version == [({}, 1.0)]
    assert health[0] == 200


def test_workers_share_port(receivers: list[UdpReceiver], tmp_path: Path) -> None:
    lines = [b"workers.series.%d,host=web-%d:1|c" % (index, index % 5) for index in range(400)]
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(20)]

    try:
        with run_proxy(receivers, tmp_path, ["--workers", "2"]) as proxy:
            for index, line in enumerate(lines):
                senders[index % len(senders)].sendto(line, proxy.address)
                if index % 50 == 49:
                    time.sleep(0.002)
            settle(receivers, len(lines))
            time.sleep(1.5)
            received = proxy.samples("statsd_proxy_lines_received_total")
            exit_code = proxy.process.stop(grace=15)
    finally:
        for sock in senders:
            sock.close()
    log = proxy.process.log_tail(20000)

    owners = {line: r.name for r in receivers for line in r.lines}
    assert sorted(owners) == sorted(lines)
    assert all(owners[line] == owner_of(receivers, line) for line in lines)
    assert received == [({}, float(len(lines)))]
    assert '"worker": 0' in log
    assert '"worker": 1' in log
    assert exit_code == 0


def test_largest_datagram_received_whole(
    receivers: list[UdpReceiver], sender: socket.socket, tmp_path: Path
) -> None:
    lines = [b"big.datagram.series.%05d:1|c" % index for index in range(2400)]
    datagram = b"\n".join(lines)
    while len(datagram) + 30 > 65507:
        lines.pop()
        datagram = b"\n".join(lines)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)

    with run_proxy(receivers, tmp_path) as proxy:
        sender.sendto(datagram, proxy.address)
        settle(receivers, len(lines))

    assert len(datagram) > 60000
    assert sorted(line for r in receivers for line in r.lines) == sorted(lines)


def test_group_sigterm_flushes_workers(
    receivers: list[UdpReceiver], sender: socket.socket, tmp_path: Path
) -> None:
    lines = [b"group.signal.%d:1|c" % index for index in range(40)]
    metrics_port = free_port()
    command = [
        *proxy_command(),
        "run",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        f"127.0.0.1:{metrics_port}",
        "--workers",
        "2",
        "--flush-interval-ms",
        "1000",
        "--log-format",
        "json",
        *[arg for r in receivers for arg in ("--backend", f"{r.name}={r.address}")],
    ]
    log_path = tmp_path / "proxy.log"
    with log_path.open("wb") as log:
        # A session of its own, so the group signal below reaches only the proxy.
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(lambda: _ready(metrics_port), 15, "proxy /readyz 200")
        port = _udp_port(log_path)
        sender.sendto(b"\n".join(lines), ("127.0.0.1", port))
        time.sleep(0.2)

        os.killpg(process.pid, signal.SIGTERM)
        exit_code = process.wait(timeout=20)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    settle(receivers, len(lines))

    assert exit_code == 0
    assert "forced_exit" not in log_path.read_text()
    assert sorted(line for r in receivers for line in r.lines) == sorted(lines)


def _ready(port: int) -> bool | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return True if response.status == 200 else None
    except OSError:
        return None


def _udp_port(log_path: Path) -> int:
    for line in log_path.read_text().splitlines():
        if '"event": "listening"' in line:
            return int(json.loads(line)["udp"].rsplit(":", 1)[1])
    raise AssertionError(f"no listening event in {log_path}")
