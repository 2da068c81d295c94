"""Listeners: StatsD over UDP, and newline-delimited StatsD over TCP.

Both hand their bytes to the router synchronously in the protocol callback;
nothing here creates a task, logs or allocates per datagram. Sockets are
opened with SO_REUSEPORT, so several worker processes can share the port and
the kernel spreads datagrams over them.
"""

from __future__ import annotations

import asyncio
import socket
import time

import structlog

from statsd_proxy.router import Router

log = structlog.get_logger("statsd_proxy.ingress")

# Maximum length of a line accepted over TCP. It is the largest UDP payload
# over IPv4, because a longer line could not be forwarded in one datagram.
MAX_TCP_LINE = 65507

_ERROR_LOG_INTERVAL = 10.0


# Datagrams read per readiness callback before other callbacks get a turn,
# so a flood cannot starve the flush timer or the ring watcher.
_READS_PER_WAKEUP = 512
# Large enough for any UDP payload, so no datagram is ever truncated.
_RECEIVE_SIZE = 65536


class UdpReader:
    """Reads datagrams from the listening socket and routes them.

    The event loop calls `on_readable` when the socket has data; it then
    reads until the socket is empty. This skips the per-datagram work of an
    asyncio datagram transport, a callback and a sender address tuple for
    every datagram. That work took more than half of the CPU time of routing
    single-line datagrams in a py-spy profile of the benchmark (bench/).
    """

    def __init__(self, sock: socket.socket, router: Router) -> None:
        self._sock = sock
        self._router = router
        self._stats = router.stats
        self._last_error_log = 0.0

    def on_readable(self) -> None:
        """Read and route datagrams until the socket is empty or the turn is over."""
        receive = self._sock.recv
        route = self._router.route
        stats = self._stats
        for _ in range(_READS_PER_WAKEUP):
            try:
                data = receive(_RECEIVE_SIZE)
            except BlockingIOError:
                return
            except OSError as error:
                log.warning("receive_failed", error=str(error))
                return
            stats.datagrams_udp += 1
            try:
                route(data)
            except Exception as error:
                # One bad datagram must not stop the listener.
                stats.datagrams_failed += 1
                self._log_failure(error)

    def _log_failure(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_INTERVAL:
            self._last_error_log = now
            log.error(
                "datagram_failed",
                error=repr(error),
                datagrams_failed=self._stats.datagrams_failed,
                exc_info=error,
            )


class TcpIngress(asyncio.Protocol):
    """Receives newline-delimited StatsD on one TCP connection and routes whole lines."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._stats = router.stats
        self._buffer = bytearray()
        self._discarding = False

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.rfind(b"\n")
        if end < 0:
            self._check_overflow()
            return
        chunk = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        if self._discarding:
            # The rest of an over-long line, up to its newline, is dropped.
            self._discarding = False
            chunk = chunk[chunk.find(b"\n") + 1 :]
        if chunk:
            self._route(chunk)
        self._check_overflow()

    def eof_received(self) -> bool:
        if self._buffer and not self._discarding:
            self._route(bytes(self._buffer))
        self._buffer.clear()
        return False

    def _route(self, chunk: bytes) -> None:
        # Each chunk of whole lines counts as one datagram of the TCP transport.
        self._stats.datagrams_tcp += 1
        if len(chunk) > MAX_TCP_LINE:
            chunk = self._drop_long_lines(chunk)
        try:
            self._router.route(chunk)
        except Exception:
            self._stats.datagrams_failed += 1
            log.exception("tcp_chunk_failed")

    def _drop_long_lines(self, chunk: bytes) -> bytes:
        lines = chunk.split(b"\n")
        kept = [line for line in lines if len(line) <= MAX_TCP_LINE]
        dropped = len(lines) - len(kept)
        self._stats.lines_too_long += dropped
        self._stats.lines_received += dropped
        return b"\n".join(kept)

    def _check_overflow(self) -> None:
        if len(self._buffer) > MAX_TCP_LINE:
            if not self._discarding:
                self._stats.lines_too_long += 1
                self._stats.lines_received += 1
            self._discarding = True
            self._buffer.clear()


class ListenError(OSError):
    """A listening socket that cannot be opened, with the option to fix in the message."""


def bind_udp(host: str, port: int, receive_buffer: int, reuse_port: bool) -> socket.socket:
    """Open the UDP listening socket with the requested receive buffer.

    ``reuse_port`` sets SO_REUSEPORT so that worker processes share the port.
    A single process leaves it off, so a second proxy on the same port fails
    to start instead of silently taking half of the traffic.
    """
    try:
        return _bind_udp(host, port, receive_buffer, reuse_port)
    except OSError as error:
        raise ListenError(_listen_message("--listen", host, port, error)) from error


def _bind_udp(host: str, port: int, receive_buffer: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if receive_buffer > 0:
            _set_receive_buffer(sock, receive_buffer)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def bind_tcp(host: str, port: int, reuse_port: bool) -> socket.socket:
    """Open the TCP listening socket, with SO_REUSEPORT when workers share it."""
    try:
        return _bind_tcp(host, port, reuse_port)
    except OSError as error:
        raise ListenError(_listen_message("--listen (TCP, --tcp)", host, port, error)) from error


def _bind_tcp(host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(512)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def receive_buffer_size(sock: socket.socket) -> int:
    """Return the receive buffer the kernel granted (Linux reports double the usable size)."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def _set_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for ``size`` bytes of receive buffer.

    SO_RCVBUF is capped by the kernel at net.core.rmem_max; SO_RCVBUFFORCE
    passes the cap but needs CAP_NET_ADMIN, which a container usually lacks,
    so it is tried first and SO_RCVBUF is the fallback.
    """
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    if force is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
            return
        except PermissionError:
            pass
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def _listen_message(option: str, host: str, port: int, error: OSError) -> str:
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    reason = error.strerror or str(error)
    return f"cannot listen on {option} {shown}: {reason}; choose a local address and a free port"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
