"""Per-member batching of whole lines into datagrams.

Each member has a `MemberChannel` that collects lines and sends them as one
datagram when the next line would not fit, or when the flush scheduler's
short delay runs out. The size check comes before appending, so a batch
never exceeds the member's limit. A line never splits, and a line longer
than the limit travels alone. This module does not touch sockets: a channel
hands finished datagrams to a `Sender`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from statsd_proxy.stats import MemberStats


class Sender(Protocol):
    """The destination of a channel's datagrams: a member's socket, or a test double."""

    def send(self, payload: bytes, lines: int) -> None:
        """Send one datagram of ``lines`` lines and count the outcome, without raising."""

    def close(self) -> None:
        """Release the socket, if any."""


class MemberChannel:
    """The batch of lines waiting for one member, and the member's sender."""

    __slots__ = ("_lines", "_on_pending", "_size", "limit", "name", "sender", "stats")

    def __init__(
        self,
        name: str,
        limit: int,
        sender: Sender,
        stats: MemberStats,
        on_pending: Callable[[MemberChannel], None],
    ) -> None:
        self.name = name
        self.limit = limit
        self.sender = sender
        self.stats = stats
        self._on_pending = on_pending
        self._lines: list[bytes] = []
        # Bytes the batch takes as a datagram: lines plus separating newlines.
        self._size = 0

    @property
    def pending(self) -> int:
        """Number of lines waiting in the batch."""
        return len(self._lines)

    def add(self, line: bytes) -> None:
        """Append a line, sending the batch first if the line would not fit."""
        size = self._size
        if size and size + 1 + len(line) > self.limit:
            self.flush()
            size = 0
        self._lines.append(line)
        if size:
            self._size = size + 1 + len(line)
        else:
            self._size = len(line)
            self._on_pending(self)
        if self._size >= self.limit:
            self.flush()

    def flush(self) -> None:
        """Send the batch as one datagram; the sender counts whether it went out."""
        lines = self._lines
        if not lines:
            return
        self._lines = []
        self._size = 0
        count = len(lines)
        self.sender.send(lines[0] if count == 1 else b"\n".join(lines), count)


class FlushScheduler:
    """Sends partial batches within a bounded delay, with one timer for all members.

    The timer is armed when a batch receives its first line and no timer is
    pending, so an idle proxy schedules nothing and a busy one schedules one
    callback per delay, never one per line or datagram.
    """

    __slots__ = ("_delay", "_handle", "_loop", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self._loop = loop
        self._delay = delay
        self._handle: asyncio.TimerHandle | None = None
        self._waiting: list[MemberChannel] = []

    def notify(self, channel: MemberChannel) -> None:
        """Note that ``channel`` started a batch; it is flushed within the delay."""
        self._waiting.append(channel)
        if self._handle is None:
            self._handle = self._loop.call_later(self._delay, self.flush_now)

    def flush_now(self) -> None:
        """Flush every batch started since the last flush."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        waiting, self._waiting = self._waiting, []
        for channel in waiting:
            channel.flush()
