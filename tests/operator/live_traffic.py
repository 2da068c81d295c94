"""Steady paced counter traffic that records when each series was sent.

A sender thread cycles through SERIES counters. Each datagram carries one
group of LINES_PER_DATAGRAM series, one ``name:1|c`` line each, and datagrams
leave every DATAGRAM_PAUSE seconds, so every series gets one increment per
cycle (0.1 s with the defaults). The send time of every datagram is kept, so
a check can count how many increments of a series left in any time span.
"""

from __future__ import annotations

import bisect
import socket
import threading
import time
from collections.abc import Sequence

SERIES = 300
LINES_PER_DATAGRAM = 60
DATAGRAM_PAUSE = 0.02
# Upper bound on one run, whatever the caller does.
MAX_SECONDS = 60.0
JOIN_SECONDS = 5.0
PREFIX = "live"


def series_name(index: int) -> str:
    """Return the counter name of series ``index``."""
    return f"{PREFIX}.s{index:03d}"


class PacedSender:
    """Sends every series once per cycle to one UDP address from a thread."""

    def __init__(
        self,
        address: tuple[str, int],
        series: int = SERIES,
        lines_per_datagram: int = LINES_PER_DATAGRAM,
        pause: float = DATAGRAM_PAUSE,
    ) -> None:
        self.address = address
        self.names = [series_name(index) for index in range(series)]
        self.groups = [
            self.names[start : start + lines_per_datagram]
            for start in range(0, series, lines_per_datagram)
        ]
        self.datagrams = [("\n".join(f"{n}:1|c" for n in group)).encode() for group in self.groups]
        self.pause = pause
        # Send times of each group's datagrams, in order.
        self.sent_at: list[list[float]] = [[] for _ in self.groups]
        self._group_of = {name: i for i, group in enumerate(self.groups) for name in group}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-sender", daemon=True)

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the thread to end."""
        self._stop.set()
        self._thread.join(timeout=JOIN_SECONDS)
        if self._thread.is_alive():
            raise RuntimeError(f"the sender thread did not stop within {JOIN_SECONDS} s")

    @property
    def last_sent_at(self) -> float:
        """Wall-clock time of the last datagram sent (0.0 before the first)."""
        return max((times[-1] for times in self.sent_at if times), default=0.0)

    def sent_count(self, name: str) -> int:
        """Return the number of increments of one series sent so far."""
        return len(self.sent_at[self._group_of[name]])

    def sent_between(self, name: str, start: float, end: float) -> int:
        """Return the increments of one series sent in the closed span [start, end]."""
        times = self.sent_at[self._group_of[name]]
        return bisect.bisect_right(times, end) - bisect.bisect_left(times, start)

    def sent_near(self, name: str, moments: Sequence[float], margin: float) -> int:
        """Return the increments of one series sent within ``margin`` of any moment."""
        return sum(self.sent_between(name, m - margin, m + margin) for m in moments)

    def _run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        next_at = time.monotonic()
        index = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self._stop.is_set() and time.monotonic() < deadline:
                group = index % len(self.groups)
                self.sent_at[group].append(time.time())
                sock.sendto(self.datagrams[group], self.address)
                index += 1
                # A fixed schedule keeps the rate steady; after a stall the
                # schedule restarts instead of catching up in a burst.
                next_at = max(next_at + self.pause, time.monotonic())
                self._stop.wait(next_at - time.monotonic())
