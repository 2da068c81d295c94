"""Running ``statsd-proxy run`` in one process: the event loop, metrics and signals."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog

from statsd_proxy.config import ProxyConfig
from statsd_proxy.metrics import Heartbeat, MetricsServer
from statsd_proxy.server import ProxyServer, wait_for_signal

log = structlog.get_logger("statsd_proxy.app")


def run_event_loop(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main`` on uvloop when it is installed, else on the standard loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def serve(config: ProxyConfig) -> int:
    """Run one proxy process until SIGTERM or SIGINT; return the exit status."""
    server = ProxyServer(config)
    await server.start()
    heartbeat = Heartbeat()
    beating = asyncio.get_running_loop().create_task(heartbeat.run(), name="heartbeat")
    metrics = None
    if config.metrics_listen is not None:
        listen = config.metrics_listen
        metrics = MetricsServer(
            listen.host, listen.port, server.stats.snapshot, lambda: server.ready, heartbeat
        )
        metrics.start()
        log.info("metrics_listening", address=f"{listen.host}:{metrics.port}")
    try:
        await wait_for_signal()
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating
        await server.stop()
        if metrics is not None:
            metrics.stop()
    return 0
