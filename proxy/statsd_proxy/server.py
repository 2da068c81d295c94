"""The proxy process: listeners, router, ring, metrics, and an orderly shutdown.

Start-up binds the listeners first, so a bad address fails before anything
else runs. Shutdown runs in a fixed order: stop reading, flush every batch,
close member sockets, log one summary line with the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from typing import Any

import structlog

from statsd_proxy.batching import FlushScheduler
from statsd_proxy.config import HostPort, ProxyConfig
from statsd_proxy.ingress import TcpIngress, UdpReader, bind_tcp, bind_udp, receive_buffer_size
from statsd_proxy.membership import RingManager
from statsd_proxy.router import Router
from statsd_proxy.sources import RingSource, make_source
from statsd_proxy.stats import ProxyStats

log = structlog.get_logger("statsd_proxy.server")


class ProxyServer:
    """One proxy process: receives StatsD, routes it and sends it to the members."""

    def __init__(self, config: ProxyConfig, source: RingSource | None = None) -> None:
        self.config = config
        self.stats = ProxyStats()
        self.stats.unready_policy = config.unready_policy
        self.router = Router(self.stats, cache_size=config.route_cache_size)
        self._source = source if source is not None else make_source(config)
        self._udp: socket.socket | None = None
        self._reader: UdpReader | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._manager: RingManager | None = None
        self.udp_port = 0

    @property
    def manager(self) -> RingManager:
        """The ring manager; available once `start` has run."""
        if self._manager is None:
            raise RuntimeError("the server has not started")
        return self._manager

    @property
    def ready(self) -> bool:
        """Whether a ring with at least one member is loaded."""
        return self._manager is not None and self._manager.ready.is_set()

    async def start(self) -> None:
        """Bind the listeners and start following the membership source."""
        loop = asyncio.get_running_loop()
        config = self.config
        scheduler = FlushScheduler(loop, config.flush_interval_ms / 1000)
        self._manager = RingManager(
            self.router,
            scheduler,
            default_hash_key=config.hash_key,
            default_max_datagram=config.max_datagram,
        )
        reuse_port = config.workers > 1
        sock = bind_udp(config.listen.host, config.listen.port, config.receive_buffer, reuse_port)
        self.udp_port = sock.getsockname()[1]
        granted = receive_buffer_size(sock)
        self._udp = sock
        self._reader = UdpReader(sock, self.router)
        loop.add_reader(sock.fileno(), self._reader.on_readable)
        if config.tcp:
            tcp_sock = bind_tcp(config.listen.host, self.udp_port, reuse_port)
            self._tcp = await loop.create_server(lambda: TcpIngress(self.router), sock=tcp_sock)
        self._tasks.append(loop.create_task(self._follow_source(), name="ring-source"))
        if config.resolve_interval > 0:
            self._tasks.append(loop.create_task(self._refresh_addresses(), name="resolver"))
        log.info(
            "listening",
            udp=str(HostPort(config.listen.host, self.udp_port)),
            tcp=config.tcp,
            receive_buffer=granted,
            source=config.source_kind,
            hash_key=config.hash_key,
            max_datagram=config.max_datagram,
            flush_interval_ms=config.flush_interval_ms,
        )

    async def stop(self) -> None:
        """Stop reading, flush every batch, close sockets and log the totals."""
        if self._udp is not None:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self._udp.fileno())
            # Route what the kernel already holds, then stop receiving.
            if self._reader is not None:
                self._reader.on_readable()
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._manager is not None:
            self._manager.close()
        # Give the closing transports one loop turn to hand buffered datagrams to the kernel.
        await asyncio.sleep(0)
        log.info("stopped", **summary(self.stats.snapshot()))

    async def _follow_source(self) -> None:
        try:
            await self._source.run(self.manager)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.stats.count_discovery_error("source_crashed")
            self.manager.report_source_failure(f"membership source failed: {error!r}")
            log.exception("source_failed")

    async def _refresh_addresses(self) -> None:
        while True:
            await asyncio.sleep(self.config.resolve_interval)
            try:
                await self.manager.refresh_addresses()
            except OSError as error:
                log.warning("refresh_failed", error=str(error))


def summary(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Return the totals worth one log line at shutdown."""
    members = snapshot["members"]
    return {
        "datagrams": sum(snapshot["datagrams"].values()),
        "lines_received": snapshot["lines_received"],
        "lines_forwarded": sum(m["lines_forwarded"] for m in members.values()),
        "lines_dropped": sum(snapshot["dropped"].values()),
        "lines_invalid": snapshot["lines_invalid"],
        "send_errors": sum(m["send_errors"] for m in members.values()),
        "ring_version": snapshot["ring_version"],
    }


async def wait_for_signal(on_first: Callable[[], None] | None = None) -> int:
    """Wait for SIGTERM or SIGINT; a second signal ends the process at once."""
    loop = asyncio.get_running_loop()
    received = asyncio.Event()
    caught: list[int] = []

    def handle(signum: int) -> None:
        if received.is_set():
            log.warning("forced_exit", signal=signal.Signals(signum).name)
            raise SystemExit(1)
        caught.append(signum)
        received.set()
        if on_first is not None:
            on_first()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, handle, signum)
    await received.wait()
    log.info("stopping", signal=signal.Signals(caught[0]).name)
    return caught[0]
