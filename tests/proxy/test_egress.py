"""UDP senders: counting what happens to every datagram on real sockets."""

from __future__ import annotations

import socket

from statsd_proxy.egress import UdpSender, UnresolvedSender
from statsd_proxy.stats import MemberStats

from tests.proxy.receivers import UdpReceiver


def test_send_counts_forwarded() -> None:
    receiver = UdpReceiver("a")
    stats = MemberStats()
    sender = UdpSender("a", ("127.0.0.1", receiver.port), stats)
    try:
        sender.send(b"a:1|c\nb:1|c", 2)
        lines = receiver.wait_for_lines(2)
    finally:
        sender.close()
        receiver.close()

    assert lines == [b"a:1|c", b"b:1|c"]
    assert stats.lines_forwarded == 2
    assert stats.datagrams_sent == 1


def test_refused_counts_send_error() -> None:
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    stats = MemberStats()
    sender = UdpSender("gone", ("127.0.0.1", port), stats)
    try:
        for _ in range(5):
            sender.send(b"a:1|c", 1)
    finally:
        sender.close()

    assert stats.send_errors >= 1
    assert stats.dropped_send_error == stats.send_errors
    assert stats.lines_forwarded + stats.dropped_send_error == 5


def test_every_send_counted() -> None:
    quiet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    quiet.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    quiet.bind(("127.0.0.1", 0))
    stats = MemberStats()
    sender = UdpSender("slow", quiet.getsockname(), stats)
    sender._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    try:
        for _ in range(20_000):
            sender.send(b"x" * 1400, 1)
    finally:
        sender.close()
        quiet.close()

    assert stats.lines_forwarded + stats.dropped_backpressure == 20_000
    assert stats.send_errors == 0


def test_unresolved_counts_unavailable() -> None:
    stats = MemberStats()

    UnresolvedSender(stats).send(b"a:1|c\nb:1|c", 2)

    assert stats.dropped_unavailable == 2
    assert stats.lines_forwarded == 0
