"""Resharding with the operator running against the API stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.operator.harness import (
    cluster_machinery,
    cluster_status,
    converge,
    event_reasons,
    make_ready,
    replicas,
    ring,
    ring_members,
    running_operator,
    set_shards,
    shard_names,
)
from tests.support.kube_api import KubeApi, wait_until

FLUSH_SECONDS = 1.0


def ring_hosts(kube_api: KubeApi) -> list[str]:
    current = ring(kube_api)
    return [] if current is None else [member.host for member in current.members]


async def test_scale_up_after_ready(kube_api: KubeApi, kube_client: Any) -> None:
    async with cluster_machinery(kube_api) as recorder, running_operator():
        await converge(kube_api, 3)
        await set_shards(kube_client, 5)
        await wait_until(lambda: replicas(kube_api) == 5, "the StatefulSet grows to 5")
        await asyncio.sleep(1.0)
        members_before_ready = ring_members(kube_api)
        await make_ready(kube_api, range(3, 5))
        await wait_until(lambda: ring_members(kube_api) == shard_names(5), "the ring lists 5")
    grown_at = next(t for t, count in recorder.replicas if count == 5)
    added_at, added = next((t, r) for t, r in recorder.rings if len(r.members) == 5)
    current = ring(kube_api)

    assert members_before_ready == shard_names(3)
    assert added_at > grown_at
    assert added.effective_at is not None
    assert added.effective_at.timestamp() % FLUSH_SECONDS == 0
    assert added.effective_at.timestamp() >= added_at
    assert current is not None
    assert current.version == 2
    assert cluster_status(kube_api)["shards"] == 5
    assert "ScalingUp" in event_reasons(kube_api)
    assert event_reasons(kube_api).count("RingUpdated") == 2


async def test_scale_down_drains_first(kube_api: KubeApi, kube_client: Any) -> None:
    async with cluster_machinery(kube_api) as recorder, running_operator():
        await converge(kube_api, 5)
        await set_shards(kube_client, 3)
        await wait_until(lambda: replicas(kube_api) == 3, "the StatefulSet shrinks to 3")
    removed_at, removed = next((t, r) for t, r in recorder.rings if len(r.members) == 3)
    shrunk_at = next(t for t, count in recorder.replicas if count == 3)
    assert removed.effective_at is not None
    drained_at = removed.effective_at.timestamp() + FLUSH_SECONDS

    assert [m.name for m in removed.members] == shard_names(3)
    assert removed_at < shrunk_at
    assert shrunk_at >= drained_at
    assert ring_members(kube_api) == shard_names(3)
    assert "Draining" in event_reasons(kube_api)
    assert "ScalingDown" in event_reasons(kube_api)


async def test_change_of_mind(kube_api: KubeApi, kube_client: Any) -> None:
    async with cluster_machinery(kube_api) as recorder, running_operator():
        await converge(kube_api, 3)
        await set_shards(kube_client, 5)
        await wait_until(lambda: replicas(kube_api) == 5, "the StatefulSet grows to 5")
        await set_shards(kube_client, 4)
        await wait_until(lambda: replicas(kube_api) == 4, "the StatefulSet shrinks to 4")
        await make_ready(kube_api, range(3, 4))
        await wait_until(lambda: ring_members(kube_api) == shard_names(4), "the ring lists 4")
    versions = [r.version for _, r in recorder.rings]

    assert "main-statsd-4" not in recorder.ever_members()
    assert [count for _, count in recorder.replicas] == [3, 5, 4]
    assert versions == list(range(1, len(versions) + 1))
    assert cluster_status(kube_api)["readyShards"] == 4


async def test_change_of_mind_after_ring(kube_api: KubeApi, kube_client: Any) -> None:
    async with cluster_machinery(kube_api) as recorder, running_operator():
        await converge(kube_api, 3)
        await set_shards(kube_client, 5)
        await make_ready(kube_api, range(3, 5))
        await wait_until(lambda: ring_members(kube_api) == shard_names(5), "the ring lists 5")
        await set_shards(kube_client, 4)
        await wait_until(lambda: replicas(kube_api) == 4, "the StatefulSet shrinks to 4")
    removed_at, removed = recorder.rings[-1]
    shrunk_at = recorder.replicas[-1][0]
    assert removed.effective_at is not None

    assert [m.name for m in removed.members] == shard_names(4)
    assert shrunk_at >= removed.effective_at.timestamp() + FLUSH_SECONDS
    assert removed_at < shrunk_at


async def test_new_pod_ip(kube_api: KubeApi) -> None:
    async with cluster_machinery(kube_api), running_operator():
        await converge(kube_api, 2)
        before = ring(kube_api)
        kube_api.set_pod_ready("main-statsd-1", pod_ip="127.0.1.11")
        await wait_until(
            lambda: ring_hosts(kube_api)[1] == "127.0.1.11", "the ring has the new address"
        )
        after = ring(kube_api)

    assert before is not None
    assert after is not None
    assert after.member_names == before.member_names
    assert after.version == before.version + 1
    assert after.members[0] == before.members[0]
    assert after.effective_at == before.effective_at
