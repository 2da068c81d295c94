"""Python stand-in for receiver.c, used when gcc is missing.

Same options, admin commands and start-up line as the C receiver: N
backends on 127.0.0.1, each a line-counting UDP port and a TCP admin port
that replies to `health`, `stats`, `latency` and `reset`.
"""

from __future__ import annotations

import argparse
import json
import selectors
import signal
import socket
import statistics
import sys
import time
from typing import Any

PROBE_PREFIX = b"bench.probe."
MAX_SAMPLES = 400_000


class Counters:
    """Datagrams, lines and bytes per backend, and probe delays in nanoseconds."""

    def __init__(self, backends: int):
        self.backends = backends
        self.datagrams = [0] * backends
        self.lines = [0] * backends
        self.bytes = [0] * backends
        self.samples: list[int] = []

    def reset(self) -> None:
        """Zero every counter and drop the samples."""
        self.datagrams = [0] * self.backends
        self.lines = [0] * self.backends
        self.bytes = [0] * self.backends
        self.samples = []

    def count(self, backend: int, data: bytes, received_ns: int) -> None:
        """Count one datagram's non-empty lines and record probe delays."""
        self.datagrams[backend] += 1
        self.bytes[backend] += len(data)
        for line in data.split(b"\n"):
            if not line:
                continue
            self.lines[backend] += 1
            if line.startswith(PROBE_PREFIX) and len(self.samples) < MAX_SAMPLES:
                sent = line.partition(b":")[2].partition(b"|")[0]
                if sent.isdigit():
                    self.samples.append(max(0, received_ns - int(sent)))

    def command(self, text: str) -> str | None:
        """Return the reply to one admin command, or None for an empty line."""
        if text == "health":
            return "health: up"
        if text == "stats":
            return json.dumps(
                {"datagrams": self.datagrams, "lines": self.lines, "bytes": self.bytes}
            )
        if text == "latency":
            return json.dumps(self.latency())
        if text == "reset":
            self.reset()
            return "ok"
        return None if not text else "ERROR"

    def latency(self) -> dict[str, Any]:
        """Percentiles of the probe delays, in microseconds (-1 without samples)."""
        if not self.samples:
            return {"count": 0, "p50_us": -1, "p90_us": -1, "p99_us": -1, "max_us": -1}
        ordered = sorted(self.samples)
        cuts = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
        return {
            "count": len(ordered),
            "p50_us": cuts[49] / 1000,
            "p90_us": cuts[89] / 1000,
            "p99_us": cuts[98] / 1000,
            "max_us": ordered[-1] / 1000,
        }


def _bind(kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if kind == socket.SOCK_DGRAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    sock.setblocking(False)
    return sock


def _serve_admin(conn: socket.socket, counters: Counters, selector: selectors.BaseSelector) -> None:
    try:
        data = conn.recv(4096)
    except BlockingIOError:
        return
    if not data:
        selector.unregister(conn)
        conn.close()
        return
    for line in data.decode(errors="replace").splitlines():
        reply = counters.command(line.strip())
        if reply is not None:
            conn.sendall(reply.encode() + b"\n")


def main(argv: list[str] | None = None) -> int:
    """Serve the backends until SIGTERM or --max-seconds."""
    parser = argparse.ArgumentParser(prog="python -m bench.fallback_receiver")
    parser.add_argument("--backends", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args(argv)

    counters = Counters(args.backends)
    selector = selectors.DefaultSelector()
    udp = [_bind(socket.SOCK_DGRAM) for _ in range(args.backends)]
    admin = [_bind(socket.SOCK_STREAM) for _ in range(args.backends)]
    for index, sock in enumerate(udp):
        selector.register(sock, selectors.EVENT_READ, ("udp", index))
    for sock in admin:
        selector.register(sock, selectors.EVENT_READ, ("listen", 0))
    ports = {"udp": [s.getsockname()[1] for s in udp], "admin": [s.getsockname()[1] for s in admin]}
    print(json.dumps(ports), flush=True)

    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    deadline = time.monotonic() + args.max_seconds
    while not stopping and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.2):
            role, index = key.data
            if not isinstance(key.fileobj, socket.socket):
                continue
            sock = key.fileobj
            if role == "udp":
                for _ in range(256):  # bounded so the admin ports stay served
                    try:
                        data = sock.recv(65536)
                    except BlockingIOError:
                        break
                    counters.count(index, data, time.monotonic_ns())
            elif role == "listen":
                conn, _ = sock.accept()
                conn.setblocking(False)
                selector.register(conn, selectors.EVENT_READ, ("admin", 0))
            else:
                _serve_admin(sock, counters, selector)
    return 0


if __name__ == "__main__":
    sys.exit(main())
