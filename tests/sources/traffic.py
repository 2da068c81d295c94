"""Real UDP shard receivers and StatsD traffic on loopback, for the membership source tests.

Receivers stand in for shards. Each binds its own 127.0.0.x address and
port and records every line with its arrival time and the sender's address.
A proxy worker sends from its own socket, so the source port identifies the
worker. Lines carry a round number or a sequence number as their value, so
a test can tell which lines of which send arrived where.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from statsd_proxy.hashring import ConsistentRing
from statsd_proxy.lines import series_key, split_lines

LOOPBACK = "127.0.0.1"
DATAGRAM_BYTES = 1400


@dataclass(frozen=True)
class Arrival:
    """One line as a receiver saw it."""

    member: str
    line: bytes
    time: float
    sender: tuple[str, int]


class Receiver:
    """A shard stand-in: receives datagrams in a thread and keeps every line."""

    def __init__(self, name: str, host: str = LOOPBACK, port: int = 0) -> None:
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._sock.bind((host, port))
        self._sock.settimeout(0.05)
        self.host: str = host
        self.port: int = self._sock.getsockname()[1]
        self._arrivals: list[Arrival] = []
        self._lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._receive, name=f"receiver-{name}", daemon=True)
        self._thread.start()

    @property
    def arrivals(self) -> list[Arrival]:
        """Every line received so far, in arrival order."""
        with self._lock:
            return list(self._arrivals)

    def close(self) -> None:
        """Stop the thread and close the socket."""
        self._running = False
        self._thread.join(timeout=2)
        self._sock.close()

    def _receive(self) -> None:
        while self._running:
            try:
                data, sender = self._sock.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            received = [Arrival(self.name, line, now, sender) for line in split_lines(data)]
            with self._lock:
                self._arrivals.extend(received)


class Shards:
    """A set of receivers; two of them may share a member name (a pod at an old and new IP)."""

    def __init__(self, receivers: Iterable[Receiver]) -> None:
        self.receivers = list(receivers)
        self.by_name = {receiver.name: receiver for receiver in self.receivers}

    def arrivals(self) -> list[Arrival]:
        """Every line at every receiver."""
        return [a for receiver in self.receivers for a in receiver.arrivals]

    def close(self) -> None:
        """Close every receiver."""
        for receiver in self.receivers:
            receiver.close()


def round_lines(round_number: int, count: int, prefix: str = "series") -> list[bytes]:
    """Return ``count`` counter lines, one per series, with ``round_number`` as the value."""
    return [b"%s.%d:%d|c" % (prefix.encode(), index, round_number) for index in range(count)]


def pack(lines: Sequence[bytes], limit: int = DATAGRAM_BYTES) -> list[bytes]:
    """Join lines into datagrams of at most ``limit`` bytes, never splitting a line."""
    datagrams: list[bytes] = []
    current = b""
    for line in lines:
        candidate = current + b"\n" + line if current else line
        if len(candidate) > limit and current:
            datagrams.append(current)
            candidate = line
        current = candidate
    if current:
        datagrams.append(current)
    return datagrams


def send(address: tuple[str, int], lines: Sequence[bytes], sockets: int = 1) -> None:
    """Send ``lines`` in datagrams, spread over ``sockets`` source ports, with short pauses."""
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(sockets)]
    try:
        for index, datagram in enumerate(pack(lines)):
            senders[index % sockets].sendto(datagram, address)
            if index % 20 == 19:
                time.sleep(0.002)
    finally:
        for sock in senders:
            sock.close()


def owner_function(names: Iterable[str]) -> Callable[[bytes], str]:
    """Return a function giving the member that a ring of ``names`` routes a line to."""
    ring = ConsistentRing(names)

    def owner(line: bytes) -> str:
        key = series_key(line)
        assert key is not None, f"test line {line!r} is invalid"
        return ring.lookup(key)

    return owner


def value_of(line: bytes) -> int:
    """Return the integer value of a test counter line."""
    return int(line.split(b":", 1)[1].split(b"|", 1)[0])


def series_of(line: bytes) -> bytes:
    """Return the name of a test counter line."""
    return line.split(b":", 1)[0]


def round_arrivals(shards: Shards, round_number: int, prefix: str = "series") -> list[Arrival]:
    """Return the arrivals of one round's lines."""
    wanted = prefix.encode() + b"."
    return [
        a
        for a in shards.arrivals()
        if a.line.startswith(wanted) and value_of(a.line) == round_number
    ]


def complete_round(
    shards: Shards, round_number: int, count: int, prefix: str = "series"
) -> list[Arrival] | None:
    """Return a round's arrivals once ``count`` lines arrived, else None (a polling probe)."""
    arrived = round_arrivals(shards, round_number, prefix)
    return arrived if len(arrived) >= count else None


async def wait_for_round(
    shards: Shards, round_number: int, count: int, seconds: float = 5.0, prefix: str = "series"
) -> list[Arrival]:
    """Wait until ``count`` lines of a round arrived and return them; raise on timeout."""
    deadline = time.monotonic() + seconds
    while complete_round(shards, round_number, count, prefix) is None:
        if time.monotonic() > deadline:
            got = len(round_arrivals(shards, round_number, prefix))
            raise TimeoutError(
                f"timed out after {seconds} s: {got} of {count} lines of round "
                f"{round_number} arrived"
            )
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # let duplicates, if any, arrive too
    return round_arrivals(shards, round_number, prefix)


async def send_round(
    shards: Shards,
    address: tuple[str, int],
    round_number: int,
    count: int = 200,
    sockets: int = 1,
    prefix: str = "series",
) -> list[Arrival]:
    """Send one round of ``count`` series to the proxy and wait for all of it to arrive."""
    await asyncio.to_thread(send, address, round_lines(round_number, count, prefix), sockets)
    return await wait_for_round(shards, round_number, count, prefix=prefix)


def misrouted(arrivals: Iterable[Arrival], names: Iterable[str]) -> list[tuple[bytes, str, str]]:
    """Return (line, member, expected member) for each line that ``names`` routes elsewhere."""
    owner = owner_function(names)
    found = []
    for arrival in arrivals:
        expected = owner(arrival.line)
        if arrival.member != expected:
            found.append((arrival.line, arrival.member, expected))
    return found


class Traffic:
    """Background StatsD traffic: one datagram of numbered lines every few milliseconds.

    Every line is unique (``background.N:SEQUENCE|c``), so a test can check
    that each line sent arrived exactly once, whatever the ring did meanwhile.
    Sending stops after ``max_seconds`` even when the test does not call `stop`.
    """

    def __init__(
        self,
        address: tuple[str, int],
        *,
        series: int = 50,
        lines_per_datagram: int = 10,
        pause: float = 0.005,
        sockets: int = 1,
        max_seconds: float = 60.0,
    ) -> None:
        self._address = address
        self._sockets = sockets
        self._series = series
        self._per_datagram = lines_per_datagram
        self._pause = pause
        self._deadline = time.monotonic() + max_seconds
        self.sent: list[bytes] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> list[bytes]:
        """Stop sending and return every line sent."""
        self._stopping.set()
        self._thread.join(timeout=5)
        return list(self.sent)

    def _run(self) -> None:
        sequence = 0
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(self._sockets)]
        try:
            while not self._stopping.is_set() and time.monotonic() < self._deadline:
                lines = []
                for _ in range(self._per_datagram):
                    lines.append(b"background.%d:%d|c" % (sequence % self._series, sequence))
                    sequence += 1
                sock = senders[sequence % self._sockets]
                sock.sendto(b"\n".join(lines), self._address)
                self.sent.extend(lines)
                self._stopping.wait(self._pause)
        finally:
            for sock in senders:
                sock.close()


def background_arrivals(shards: Shards) -> list[Arrival]:
    """Return the arrivals of background traffic lines."""
    return [a for a in shards.arrivals() if a.line.startswith(b"background.")]


async def wait_for_background(shards: Shards, sent: Sequence[bytes], seconds: float = 5.0) -> None:
    """Wait until every background line sent has arrived somewhere."""
    deadline = time.monotonic() + seconds
    while len(background_arrivals(shards)) < len(sent):
        if time.monotonic() > deadline:
            got = len(background_arrivals(shards))
            raise TimeoutError(f"timed out after {seconds} s: {got} of {len(sent)} lines arrived")
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
