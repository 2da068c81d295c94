"""UDP senders: one connected, non-blocking socket per member.

Datagrams go straight to the member's own address (a shard pod's IP), never
through a ClusterIP Service, because kube-proxy keeps stale UDP conntrack
entries after a shard pod restarts. A connected socket also lets the kernel
report ICMP errors (port unreachable while a shard is down): the next send
fails with that error, and it is counted as a send error of that member.

Sends go to the socket directly rather than through an asyncio transport.
A transport buffers a datagram the kernel cannot take yet and calls its
protocol's pause_writing(). Here the kernel's EAGAIN is that signal: the
batch is dropped and counted as backpressure, so nothing queues without bound. The
asyncio transport's bookkeeping was 29 % of the CPU time of routing 30-line
datagrams in a py-spy profile of the benchmark (bench/, 2-core x86-64).
"""

from __future__ import annotations

import socket
import time

import structlog

from statsd_proxy.stats import MemberStats

log = structlog.get_logger("statsd_proxy.egress")

Address = tuple[str, int]

# Log at most one send error per member in this many seconds; all are counted.
_ERROR_LOG_INTERVAL = 10.0
# Kernel send buffer asked for per member socket: a burst of full batches
# queues here while the kernel drains it, instead of failing with EAGAIN.
_SEND_BUFFER = 1024 * 1024


class UdpSender:
    """Sends one member's datagrams and counts what happens to every line."""

    __slots__ = ("_last_error_log", "_send", "_sock", "_stats", "address", "member")

    def __init__(self, member: str, address: Address, stats: MemberStats) -> None:
        self.member = member
        self.address = address
        self._stats = stats
        self._last_error_log = 0.0
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
            self._sock.setblocking(False)
            self._sock.connect(address)
        except OSError:
            self._sock.close()
            raise
        self._send = self._sock.send

    def send(self, payload: bytes, lines: int) -> None:
        """Send one datagram of ``lines`` lines; count it forwarded or dropped."""
        stats = self._stats
        try:
            self._send(payload)
        except BlockingIOError:
            stats.dropped_backpressure += lines
            return
        except OSError as error:
            stats.send_errors += 1
            stats.dropped_send_error += lines
            self._log_error(error)
            return
        stats.lines_forwarded += lines
        stats.datagrams_sent += 1

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def _log_error(self, error: OSError) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.warning(
                "send_failed",
                member=self.member,
                address=f"{self.address[0]}:{self.address[1]}",
                error=str(error),
                send_errors=self._stats.send_errors,
            )


class UnresolvedSender:
    """The sender of a member with no usable address yet: it drops and counts everything."""

    __slots__ = ("_stats",)

    def __init__(self, stats: MemberStats) -> None:
        self._stats = stats

    def send(self, payload: bytes, lines: int) -> None:
        """Count the datagram's lines as dropped because the member is unavailable."""
        self._stats.dropped_unavailable += lines

    def close(self) -> None:
        """Do nothing: there is no socket."""
