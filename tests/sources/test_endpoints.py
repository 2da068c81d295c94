"""The EndpointSlice source against the Kubernetes API stand-in, with traffic flowing.

Each shard pod is a receiver on its own loopback address (127.0.0.2, ...) and
all of them share one port, as pods behind a headless Service do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from statsd_proxy.server import ProxyServer
from statsd_proxy.sources.endpoints import EndpointsSource

from tests.sources.harness import (
    address_of,
    fast_backoff,
    member_names,
    running_proxy,
    wait_for_version,
)
from tests.sources.traffic import (
    Receiver,
    Shards,
    Traffic,
    background_arrivals,
    misrouted,
    send_round,
    series_of,
    wait_for_background,
)
from tests.support.kube_api import KubeApi, wait_until
from tests.support.kube_objects import endpoint_slice

SERVICE = "statsd"
SLICES = "endpointslices.discovery.k8s.io"
PODS = {"shard-0": "127.0.0.2", "shard-1": "127.0.0.3", "shard-2": "127.0.0.4"}
MOVED_ADDRESS = "127.0.0.5"
TWO = ["shard-0", "shard-1"]


@pytest.fixture
def pods() -> Iterator[Shards]:
    """Receivers for shard-0 to shard-2 on 127.0.0.2 to 127.0.0.4, all on one port."""
    first = Receiver("shard-0", PODS["shard-0"])
    started = [first]
    try:
        for name in ("shard-1", "shard-2"):
            started.append(Receiver(name, PODS[name], first.port))
        shards = Shards(started)
        yield shards
    finally:
        for receiver in started:
            receiver.close()


def entry(pod: str, address: str, ready: bool = True, terminating: bool = False) -> dict[str, Any]:
    """Build one endpoint of a slice, as the EndpointSlice controller writes it for a pod."""
    conditions = {"ready": ready, "serving": ready, "terminating": terminating}
    return {
        "addresses": [address],
        "conditions": conditions,
        "hostname": pod,
        "targetRef": {"kind": "Pod", "name": pod, "namespace": "default"},
    }


def create_slices(kube_api: KubeApi, port: int) -> None:
    """Create two slices of the Service: shard-0 and shard-1 in one, shard-2 in the other."""
    first = [entry(name, PODS[name]) for name in TWO]
    kube_api.create(endpoint_slice("statsd-a", SERVICE, first, port=port))
    second = [entry("shard-2", PODS["shard-2"])]
    kube_api.create(endpoint_slice("statsd-b", SERVICE, second, port=port))


def set_shard_2(kube_api: KubeApi, **conditions: Any) -> None:
    """Replace the endpoint of shard-2 with one in the given conditions."""
    endpoints = [entry("shard-2", PODS["shard-2"], **conditions)]
    kube_api.patch(SLICES, "statsd-b", {"endpoints": endpoints})


@asynccontextmanager
async def endpoints_proxy(kube_api: KubeApi, policy: str = "hold") -> AsyncIterator[ProxyServer]:
    reference = f"default/{SERVICE}"
    source = EndpointsSource(reference, unready_policy=policy, backoff=fast_backoff())
    options = {"ring_endpoints": reference, "unready_policy": policy}
    async with running_proxy(source, **options) as server:
        await kube_api.wait_for_watches("endpointslices")
        yield server


async def test_endpoints_all_ready(kube_api: KubeApi, pods: Shards) -> None:
    create_slices(kube_api, pods.by_name["shard-0"].port)
    kube_api.create(endpoint_slice("other-a", "other", [entry("other-0", "127.0.0.9")]))
    async with endpoints_proxy(kube_api) as server:
        await wait_for_version(server, 1)
        arrived = await send_round(pods, address_of(server), 1)
        names = member_names(server)
        ready = dict(server.stats.member_ready)

    assert names == sorted(PODS)
    assert misrouted(arrived, PODS) == []
    assert {a.member for a in arrived} == set(PODS)
    assert ready == dict.fromkeys(PODS, True)


async def test_not_ready_hold(kube_api: KubeApi, pods: Shards) -> None:
    create_slices(kube_api, pods.by_name["shard-0"].port)
    async with endpoints_proxy(kube_api, "hold") as server:
        await wait_for_version(server, 1)

        set_shard_2(kube_api, ready=False)
        await wait_until(lambda: server.stats.member_ready.get("shard-2") is False, "not ready")
        held = await send_round(pods, address_of(server), 1)
        set_shard_2(kube_api, ready=True)
        await wait_until(lambda: server.stats.member_ready.get("shard-2") is True, "ready again")
        version = server.stats.ring_version
        updates = server.stats.ring_updates

    assert misrouted(held, PODS) == []
    assert "shard-2" in {a.member for a in held}
    assert version == 1
    assert updates == 1


async def test_not_ready_failover(kube_api: KubeApi, pods: Shards) -> None:
    create_slices(kube_api, pods.by_name["shard-0"].port)
    async with endpoints_proxy(kube_api, "failover") as server:
        await wait_for_version(server, 1)
        with Traffic(address_of(server)) as traffic:
            set_shard_2(kube_api, ready=False)
            await wait_for_version(server, 2)
            ready_during = server.stats.member_ready.get("shard-2")
            names_during = member_names(server)
            during = await send_round(pods, address_of(server), 1)
            set_shard_2(kube_api, ready=True)
            await wait_for_version(server, 3)
            after = await send_round(pods, address_of(server), 2)
        sent = traffic.sent
        await wait_for_background(pods, sent)

    assert ready_during is False
    assert names_during == TWO
    assert misrouted(during, TWO) == []
    assert misrouted(after, PODS) == []
    assert sorted(a.line for a in background_arrivals(pods)) == sorted(sent)


@pytest.mark.parametrize("policy", ["hold", "failover"])
async def test_terminating_leaves(kube_api: KubeApi, pods: Shards, policy: str) -> None:
    create_slices(kube_api, pods.by_name["shard-0"].port)
    async with endpoints_proxy(kube_api, policy) as server:
        await wait_for_version(server, 1)

        set_shard_2(kube_api, ready=True, terminating=True)
        await wait_for_version(server, 2)
        arrived = await send_round(pods, address_of(server), 1)
        names = member_names(server)
        ready = dict(server.stats.member_ready)

    assert names == TWO
    assert misrouted(arrived, TWO) == []
    assert ready == dict.fromkeys(TWO, True)


async def test_pod_new_ip_moves_nothing(kube_api: KubeApi, pods: Shards) -> None:
    port = pods.by_name["shard-0"].port
    create_slices(kube_api, port)
    moved = Receiver("shard-1", MOVED_ADDRESS, port)
    restarted = Shards([pods.by_name["shard-0"], moved, pods.by_name["shard-2"]])
    try:
        async with endpoints_proxy(kube_api) as server:
            await wait_for_version(server, 1)
            with Traffic(address_of(server)) as traffic:
                before = await send_round(pods, address_of(server), 1)
                endpoints = [entry("shard-0", PODS["shard-0"]), entry("shard-1", MOVED_ADDRESS)]
                kube_api.patch(SLICES, "statsd-a", {"endpoints": endpoints})
                await wait_for_version(server, 2)
                after = await send_round(restarted, address_of(server), 2)
            sent = traffic.sent
            await wait_for_background(Shards([*pods.by_name.values(), moved]), sent)
            names = member_names(server)
    finally:
        moved.close()

    owner_before = {series_of(a.line): a.member for a in before}
    owner_after = {series_of(a.line): a.member for a in after}
    old_address = [a for a in pods.by_name["shard-1"].arrivals if a.line.endswith(b":2|c")]
    assert names == sorted(PODS)
    assert owner_after == owner_before
    assert "shard-1" in owner_after.values()
    assert old_address == []


async def test_no_endpoints_keeps_ring(kube_api: KubeApi, pods: Shards) -> None:
    every = [entry(name, address) for name, address in PODS.items()]
    port = pods.by_name["shard-0"].port
    kube_api.create(endpoint_slice("statsd-a", SERVICE, every, port=port))
    async with endpoints_proxy(kube_api) as server:
        await wait_for_version(server, 1)

        kube_api.patch(SLICES, "statsd-a", {"endpoints": []})
        await wait_until(lambda: server.stats.ring_stale, "the ring marked stale")
        kept = await send_round(pods, address_of(server), 1)
        empty = server.stats.discovery_errors.get("empty")
        ready = server.ready
        kube_api.patch(SLICES, "statsd-a", {"endpoints": every})
        await wait_until(lambda: not server.stats.ring_stale, "the stale mark cleared")
        version = server.stats.ring_version

    assert misrouted(kept, PODS) == []
    assert empty == 1
    assert ready is True
    assert version == 1


async def test_slice_without_port(kube_api: KubeApi, pods: Shards) -> None:
    port = pods.by_name["shard-0"].port
    create_slices(kube_api, port)
    wrong = [entry("shard-9", "127.0.0.9")]
    kube_api.create(endpoint_slice("statsd-c", SERVICE, wrong, port=port, port_name="admin"))
    async with endpoints_proxy(kube_api) as server:
        await wait_for_version(server, 1)

        set_shard_2(kube_api, ready=False)
        await wait_until(lambda: server.stats.member_ready.get("shard-2") is False, "not ready")
        invalid = server.stats.discovery_errors.get("invalid")
        names = member_names(server)

    assert invalid == 1
    assert names == sorted(PODS)
