"""``statsd-proxy run`` as a real process: signals, flushing, workers, metrics."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from statsd_proxy.hashring import ConsistentRing
from statsd_proxy.lines import series_key

from tests.proxy.receivers import UdpReceiver, settle
from tests.support.pipeline_proxy import run_proxy


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
