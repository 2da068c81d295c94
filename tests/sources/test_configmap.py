"""The ring ConfigMap source against the Kubernetes API stand-in, with traffic flowing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from statsd_proxy.server import ProxyServer
from statsd_proxy.sources.configmap import ConfigMapSource
from structlog.testing import capture_logs

from tests.sources.harness import (
    RING_CONFIGMAP,
    address_of,
    fast_backoff,
    member_names,
    ring_json,
    running_proxy,
    wait_for_version,
)
from tests.sources.traffic import (
    Shards,
    Traffic,
    background_arrivals,
    misrouted,
    send_round,
    wait_for_background,
)
from tests.support.kube_api import KubeApi, wait_until
from tests.support.kube_objects import config_map

TWO = ["shard-0", "shard-1"]


def ring_configmap(text: str) -> dict[str, Any]:
    return config_map(RING_CONFIGMAP, {"ring.json": text})


def set_ring(kube_api: KubeApi, text: str) -> None:
    kube_api.patch("configmaps", RING_CONFIGMAP, {"data": {"ring.json": text}})


@asynccontextmanager
async def configmap_proxy(kube_api: KubeApi) -> AsyncIterator[ProxyServer]:
    source = ConfigMapSource(f"default/{RING_CONFIGMAP}", backoff=fast_backoff())
    async with running_proxy(source, ring_configmap=f"default/{RING_CONFIGMAP}") as server:
        await kube_api.wait_for_watches("configmaps")
        yield server


def list_requests(kube_api: KubeApi) -> int:
    """Count the list (not watch) requests for ConfigMaps."""
    return sum(
        1
        for request in kube_api.requests
        if request.url.path.endswith("/configmaps")
        and request.params.get("watch", "").lower() not in ("true", "1")
    )


async def test_configmap_created(kube_api: KubeApi, shards: Shards) -> None:
    async with configmap_proxy(kube_api) as server:
        ready_before = server.ready
        kube_api.create(ring_configmap(ring_json(1, shards)))
        await wait_for_version(server, 1)
        arrived = await send_round(shards, address_of(server), 1)
        ready_after = server.ready

    assert ready_before is False
    assert ready_after is True
    assert len(arrived) == 200
    assert misrouted(arrived, shards.by_name) == []
    assert {a.member for a in arrived} == set(shards.by_name)


async def test_configmap_changed(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards, TWO)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)
        with Traffic(address_of(server)) as traffic:
            before = await send_round(shards, address_of(server), 1)
            set_ring(kube_api, ring_json(2, shards))
            await wait_for_version(server, 2)
            after = await send_round(shards, address_of(server), 2)
        sent = traffic.sent
        await wait_for_background(shards, sent)
        updates = server.stats.ring_updates

    assert misrouted(before, TWO) == []
    assert misrouted(after, shards.by_name) == []
    assert "shard-2" in {a.member for a in after}
    assert sorted(a.line for a in background_arrivals(shards)) == sorted(sent)
    assert updates == 2


async def test_configmap_deleted(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)

        kube_api.delete("configmaps", RING_CONFIGMAP)
        await wait_until(lambda: server.stats.ring_stale, "the ring marked stale")
        kept = await send_round(shards, address_of(server), 1)
        missing = server.stats.discovery_errors.get("missing")
        ready = server.ready
        kube_api.create(ring_configmap(ring_json(2, shards, TWO)))
        await wait_for_version(server, 2)
        stale_after = server.stats.ring_stale

    assert misrouted(kept, shards.by_name) == []
    assert missing == 1
    assert ready is True
    assert stale_after is False


async def test_api_restart_mid_watch(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards, TWO)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)
        lists_before = list_requests(kube_api)
        with Traffic(address_of(server)) as traffic:
            await kube_api.stop()
            await wait_until(lambda: server.stats.ring_stale, "the ring marked stale")
            during = await send_round(shards, address_of(server), 1)
            set_ring(kube_api, ring_json(2, shards))
            await wait_until(
                lambda: server.stats.discovery_errors.get("api", 0) >= 2,
                "failed reconnects counted",
            )
            ready_during = server.ready
            await kube_api.start()
            await wait_for_version(server, 2)
            after = await send_round(shards, address_of(server), 2)
        sent = traffic.sent
        await wait_for_background(shards, sent)
        stale_after = server.stats.ring_stale
        lists_after = list_requests(kube_api)

    assert misrouted(during, TWO) == []
    assert ready_during is True
    assert lists_after == lists_before
    assert misrouted(after, shards.by_name) == []
    assert stale_after is False
    assert sorted(a.line for a in background_arrivals(shards)) == sorted(sent)


async def test_api_restart_confirms_ring(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)

        await kube_api.stop()
        await wait_until(lambda: server.stats.ring_stale, "the ring marked stale")
        await kube_api.start()
        await wait_until(lambda: not server.stats.ring_stale, "the stale mark cleared")
        updates = server.stats.ring_updates

    assert updates == 1


async def test_gone_relists(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards, TWO)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)
        lists_before = list_requests(kube_api)

        kube_api.compact()
        await wait_until(lambda: list_requests(kube_api) > lists_before, "a re-list after 410")
        await kube_api.wait_for_watches("configmaps")
        set_ring(kube_api, ring_json(2, shards))
        await wait_for_version(server, 2)
        arrived = await send_round(shards, address_of(server), 1)
        stale = server.stats.ring_stale

    assert misrouted(arrived, shards.by_name) == []
    assert stale is False


async def test_invalid_ring_kept(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards, TWO)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)

        set_ring(kube_api, "{not json")
        await wait_until(lambda: server.stats.discovery_errors.get("invalid"), "invalid counted")
        set_ring(kube_api, ring_json(2, shards).replace('"port": ', '"port": -'))
        await wait_until(
            lambda: server.stats.discovery_errors.get("invalid") == 2, "second invalid counted"
        )
        kept = await send_round(shards, address_of(server), 1)
        stale = server.stats.ring_stale
        set_ring(kube_api, ring_json(3, shards))
        await wait_for_version(server, 3)
        stale_after = server.stats.ring_stale

    assert misrouted(kept, TWO) == []
    assert stale is True
    assert stale_after is False


async def test_older_version_ignored(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(5, shards)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 5)

        with capture_logs() as logs:
            set_ring(kube_api, ring_json(4, shards, TWO))
            ignored = await wait_until(
                lambda: [e for e in logs if e["event"] == "ring_ignored"], "the old ring ignored"
            )
        arrived = await send_round(shards, address_of(server), 1)
        version = server.stats.ring_version

    assert ignored[0]["rejected_version"] == 4
    assert version == 5
    assert misrouted(arrived, shards.by_name) == []


async def test_effective_at_switches(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards, TWO)))
    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)
        effective_at = datetime.now(UTC) + timedelta(seconds=1.5)
        switch_monotonic = time.monotonic() + 1.5

        set_ring(kube_api, ring_json(2, shards, effective_at=effective_at))
        early = await send_round(shards, address_of(server), 1)
        early_version = server.stats.ring_version
        await wait_for_version(server, 2)
        switched_at = datetime.now(UTC)
        late = await send_round(shards, address_of(server), 2)
        names = member_names(server)

    first_at_new = min(a.time for a in shards.by_name["shard-2"].arrivals)
    assert early_version == 1
    assert misrouted(early, TWO) == []
    assert switched_at >= effective_at
    assert switched_at - effective_at < timedelta(seconds=0.5)
    assert first_at_new >= switch_monotonic - 0.01
    assert misrouted(late, shards.by_name) == []
    assert names == sorted(shards.by_name)


async def test_api_errors_retried(kube_api: KubeApi, shards: Shards) -> None:
    kube_api.create(ring_configmap(ring_json(1, shards)))
    kube_api.mock["get /api/v1/namespaces/default/configmaps"][:3] << 503

    async with configmap_proxy(kube_api) as server:
        await wait_for_version(server, 1)
        arrived = await send_round(shards, address_of(server), 1)
        errors = server.stats.discovery_errors.get("api")

    assert errors == 3
    assert misrouted(arrived, shards.by_name) == []
