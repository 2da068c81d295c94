"""UDP senders: one connected socket per member.

Datagrams go straight to the member's own address (a shard pod's IP), never
through a ClusterIP Service, because kube-proxy keeps stale UDP conntrack
entries after a shard pod restarts. A connected socket also lets the kernel
report ICMP errors (port unreachable while a shard is down), which are
counted as send errors of that member.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import cast

import structlog

from statsd_proxy.stats import MemberStats

log = structlog.get_logger("statsd_proxy.egress")

# Log at most one send error per member in this many seconds; all are counted.
_ERROR_LOG_INTERVAL = 10.0


class UdpSender(asyncio.DatagramProtocol):
    """Sends one member's datagrams and tracks the transport's flow control."""

    def __init__(self, member: str, address: tuple[str, int], stats: MemberStats) -> None:
        self.member = member
        self.address = address
        self._stats = stats
        self._transport: asyncio.DatagramTransport | None = None
        self._paused = False
        self._last_error_log = 0.0

    @property
    def paused(self) -> bool:
        """Whether the transport asked us to stop writing, or is closed."""
        return self._paused or self._transport is None

    @property
    def available(self) -> bool:
        """Whether the socket is open."""
        return self._transport is not None

    def send(self, payload: bytes) -> None:
        """Send one datagram to the member."""
        if self._transport is not None:
            self._transport.sendto(payload)

    def close(self) -> None:
        """Close the socket; anything still buffered in it is discarded."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False

    def error_received(self, exc: Exception) -> None:
        self._stats.send_errors += 1
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.warning(
                "send_failed",
                member=self.member,
                address=f"{self.address[0]}:{self.address[1]}",
                error=str(exc),
                send_errors=self._stats.send_errors,
            )


async def open_sender(
    loop: asyncio.AbstractEventLoop, member: str, address: tuple[str, int], stats: MemberStats
) -> UdpSender:
    """Open a connected UDP socket to ``address`` (an IP address and port)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    _, sender = await loop.create_datagram_endpoint(
        lambda: UdpSender(member, address, stats), remote_addr=address, family=family
    )
    return sender


class UnresolvedSender:
    """The sender of a member whose host name has not resolved yet: it drops everything."""

    paused = True
    available = False

    def send(self, payload: bytes) -> None:
        """Drop the datagram; the channel counts it before calling here."""

    def close(self) -> None:
        """Do nothing: there is no socket."""
