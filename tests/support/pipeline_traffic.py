"""Paced StatsD traffic for the pipeline tests.

Bursts of about 2,000 single-line datagrams overflowed a StatsD server's socket
receive buffer on the 2-core test machines and lost increments. Lines batched
into datagrams of about 1,400 bytes and sent with short pauses arrived complete
in every measured run, so these helpers send that way.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable, Sequence

MAX_DATAGRAM = 1400
SEND_PAUSE = 0.002


def pack_datagrams(lines: Iterable[str], max_bytes: int = MAX_DATAGRAM) -> list[bytes]:
    """Join lines with newlines into datagrams of at most max_bytes, never splitting a line."""
    datagrams: list[bytes] = []
    current = b""
    for line in lines:
        encoded = line.encode()
        if len(encoded) > max_bytes:
            raise ValueError(f"line of {len(encoded)} bytes exceeds {max_bytes}: {line[:60]!r}")
        candidate = current + b"\n" + encoded if current else encoded
        if len(candidate) > max_bytes:
            datagrams.append(current)
            candidate = encoded
        current = candidate
    if current:
        datagrams.append(current)
    return datagrams


def send_datagrams(
    address: tuple[str, int], datagrams: Sequence[bytes], pause: float = SEND_PAUSE
) -> None:
    """Send each datagram to address over UDP, pausing between them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in datagrams:
            sock.sendto(datagram, address)
            time.sleep(pause)


def send_lines(address: tuple[str, int], lines: Sequence[str]) -> int:
    """Send lines packed into paced datagrams; return the number of datagrams sent."""
    datagrams = pack_datagrams(lines)
    send_datagrams(address, datagrams)
    return len(datagrams)
