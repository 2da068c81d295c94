"""Invalid specs, deletion and operator restarts against the API stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio import client
from statsd_operator import names

from tests.operator.harness import (
    CLUSTER,
    NAMESPACE,
    cluster_machinery,
    condition,
    converge,
    event_reasons,
    make_ready,
    replicas,
    ring,
    ring_members,
    running_operator,
    set_shards,
    shard_names,
    statsd_cluster,
    wait_for_reason,
)
from tests.support.kube_api import KubeApi, wait_until

FLUSH_SECONDS = 1.0
CHILDREN = [
    ("services", "main-statsd"),
    ("configmaps", "main-statsd-config"),
    ("configmaps", "main-ring"),
    ("statefulsets.apps", "main-statsd"),
]


def warning_messages(kube_api: KubeApi) -> list[str]:
    events = kube_api.list_objects("events", NAMESPACE)
    return [e["message"] for e in events if e.get("type") == "Warning"]


async def test_invalid_spec_reported(kube_api: KubeApi) -> None:
    async with cluster_machinery(kube_api), running_operator():
        kube_api.create(statsd_cluster(0))
        invalid = await wait_for_reason(kube_api, "Ready", "InvalidSpec")
        await wait_until(lambda: warning_messages(kube_api), "a Warning Event is posted")
        statefulset_while_invalid = replicas(kube_api)
        kube_api.patch(names.PLURAL, CLUSTER, {"spec": {"shards": 2}}, NAMESPACE)
        await make_ready(kube_api, range(2))
        await wait_until(lambda: ring_members(kube_api) == shard_names(2), "the ring lists 2")

    assert "spec.shards: must be at least 1, got 0" in invalid["message"]
    assert "spec.shards" in warning_messages(kube_api)[0]
    assert "InvalidSpec" in event_reasons(kube_api)
    assert statefulset_while_invalid is None
    assert condition(kube_api, "Ready")["status"] == "True"


async def test_invalid_sink_reported(kube_api: KubeApi) -> None:
    cluster = statsd_cluster(1)
    cluster["spec"]["sink"] = {"graphite": {"host": "bad host"}}

    async with cluster_machinery(kube_api), running_operator():
        kube_api.create(cluster)
        invalid = await wait_for_reason(kube_api, "Progressing", "InvalidSpec")

    assert "spec.sink.graphite.host" in invalid["message"]
    assert invalid["status"] == "False"


async def test_delete_cluster(kube_api: KubeApi, kube_client: Any) -> None:
    custom = client.CustomObjectsApi(kube_client)

    async with cluster_machinery(kube_api), running_operator():
        await converge(kube_api, 2)
        await custom.delete_namespaced_custom_object(
            names.GROUP, names.VERSION, NAMESPACE, names.PLURAL, CLUSTER
        )
        await wait_until(
            lambda: kube_api.get(names.PLURAL, CLUSTER, NAMESPACE) is None,
            "the StatsdCluster is gone",
        )
        await asyncio.sleep(1.0)
    remaining = [(kind, name) for kind, name in CHILDREN if kube_api.get(kind, name, NAMESPACE)]

    assert remaining == []


async def test_restart_while_draining(kube_api: KubeApi, kube_client: Any) -> None:
    async with cluster_machinery(kube_api) as recorder:
        async with running_operator():
            await converge(kube_api, 5)
            await set_shards(kube_client, 3)
            await wait_until(lambda: len(ring_members(kube_api)) == 3, "the ring drops 2")
        replicas_after_stop = replicas(kube_api)
        async with running_operator():
            await wait_until(lambda: replicas(kube_api) == 3, "the StatefulSet shrinks to 3")
    removal = recorder.rings[-1][1]
    shrunk_at = recorder.replicas[-1][0]
    assert removal.effective_at is not None

    assert replicas_after_stop == 5
    assert [r.version for _, r in recorder.rings] == [1, 2]
    assert shrunk_at >= removal.effective_at.timestamp() + FLUSH_SECONDS


async def test_restart_while_scaling_up(kube_api: KubeApi, kube_client: Any) -> None:
    async with cluster_machinery(kube_api) as recorder:
        async with running_operator():
            await converge(kube_api, 3)
            await set_shards(kube_client, 5)
            await wait_until(lambda: replicas(kube_api) == 5, "the StatefulSet grows to 5")
        await make_ready(kube_api, range(3, 5))
        members_while_stopped = ring_members(kube_api)
        async with running_operator():
            await wait_until(lambda: ring_members(kube_api) == shard_names(5), "the ring lists 5")
    current = ring(kube_api)

    assert members_while_stopped == shard_names(3)
    assert current is not None
    assert current.version == 2
    assert [count for _, count in recorder.replicas] == [3, 5]


async def test_ring_recreated(kube_api: KubeApi) -> None:
    async with cluster_machinery(kube_api), running_operator():
        await converge(kube_api, 2)
        kube_api.delete("configmaps", "main-ring", NAMESPACE)
        restored = await wait_until(lambda: ring(kube_api), "the ring ConfigMap is written again")

    assert restored.version == 2
    assert [m.name for m in restored.members] == shard_names(2)
    assert "RingUpdated" in event_reasons(kube_api)


async def test_rejected_child_reported(kube_api: KubeApi) -> None:
    rejection = {
        "kind": "Status",
        "message": 'StatefulSet.apps "main-statsd" is invalid: spec.template.spec.'
        'tolerations[0].operator: Unsupported value: "Sometimes"',
    }
    path = f"post /apis/apps/v1/namespaces/{NAMESPACE}/statefulsets"
    kube_api.mock[path] << 422 << rejection

    async with cluster_machinery(kube_api), running_operator():
        kube_api.create(statsd_cluster(1))
        invalid = await wait_for_reason(kube_api, "Ready", "InvalidSpec")
        await wait_until(lambda: warning_messages(kube_api), "a Warning Event is posted")

    assert "the API server rejected a child object" in invalid["message"]
    assert "tolerations[0].operator" in invalid["message"]
    assert "tolerations[0].operator" in warning_messages(kube_api)[0]
