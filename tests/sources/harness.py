"""An in-process proxy fed by one membership source, and ring documents for the tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from statsd_proxy.config import HostPort, ProxyConfig
from statsd_proxy.ringdoc import format_time
from statsd_proxy.server import ProxyServer
from statsd_proxy.sources import RingSource
from statsd_proxy.sources.kubewatch import Backoff

from tests.sources.traffic import LOOPBACK, Shards
from tests.support.kube_api import wait_until

RING_CONFIGMAP = "ring"


def fast_backoff() -> Backoff:
    """Retry delays short enough for tests: 50 ms growing to 500 ms."""
    return Backoff(initial=0.05, maximum=0.5)


def ring_json(
    version: int,
    shards: Shards,
    names: Sequence[str] | None = None,
    effective_at: datetime | None = None,
    hash_key: str | None = None,
) -> str:
    """Return ``ring.json`` text with members in the order of ``names`` (default: all)."""
    chosen = list(names) if names is not None else list(shards.by_name)
    members = []
    for name in chosen:
        receiver = shards.by_name[name]
        members.append({"name": name, "host": receiver.host, "port": receiver.port})
    document: dict[str, Any] = {"version": version, "members": members}
    if effective_at is not None:
        document["effectiveAt"] = format_time(effective_at)
    if hash_key is not None:
        document["hashKey"] = hash_key
    return json.dumps(document)


@asynccontextmanager
async def running_proxy(source: RingSource, **options: Any) -> AsyncIterator[ProxyServer]:
    """Run a proxy on 127.0.0.1 with ``source`` as its membership source."""
    config = ProxyConfig(
        listen=HostPort(LOOPBACK, 0),
        metrics_listen=None,
        resolve_interval=0,
        **options,
    )
    server = ProxyServer(config, source=source)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def address_of(server: ProxyServer) -> tuple[str, int]:
    """The UDP address the proxy listens on."""
    return (LOOPBACK, server.udp_port)


async def wait_for_version(server: ProxyServer, version: int, seconds: float = 5.0) -> None:
    """Wait until the proxy routes with ring ``version``."""
    await wait_until(
        lambda: server.stats.ring_version == version,
        f"ring version {version} in use (now {server.stats.ring_version})",
        seconds,
    )


def member_names(server: ProxyServer) -> list[str]:
    """The names of the members the proxy routes to, sorted."""
    return sorted(server.router.ring.names)
