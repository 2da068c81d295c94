"""Creating a StatsdCluster with the operator running against the API stand-in."""

from __future__ import annotations

from statsd_operator import names
from statsd_proxy.ringdoc import Member

from tests.operator.harness import (
    CLUSTER,
    NAMESPACE,
    cluster_machinery,
    cluster_status,
    condition,
    event_reasons,
    make_ready,
    ring,
    ring_members,
    running_operator,
    shard_names,
    statsd_cluster,
    wait_for_reason,
)
from tests.support.kube_api import KubeApi, wait_until


async def test_create_children(kube_api: KubeApi) -> None:
    async with cluster_machinery(kube_api), running_operator():
        kube_api.create(statsd_cluster(3))
        await make_ready(kube_api, range(3))
        await wait_until(lambda: len(ring_members(kube_api)) == 3, "the ring lists 3 shards")
        await wait_until(
            lambda: condition(kube_api, "Ready").get("status") == "True", "the cluster is Ready"
        )
    owner = kube_api.get(names.PLURAL, CLUSTER, NAMESPACE)
    service = kube_api.get("services", "main-statsd", NAMESPACE)
    config = kube_api.get("configmaps", "main-statsd-config", NAMESPACE)
    statefulset = kube_api.get("statefulsets.apps", "main-statsd", NAMESPACE)
    current = ring(kube_api)
    status = cluster_status(kube_api)

    assert owner is not None
    for child in (service, config, statefulset):
        assert child is not None
        assert child["metadata"]["ownerReferences"][0]["uid"] == owner["metadata"]["uid"]
    assert service is not None
    assert service["spec"]["clusterIP"] == "None"
    assert config is not None
    assert "config.js" in config["data"]
    assert statefulset is not None
    assert statefulset["spec"]["replicas"] == 3
    assert current is not None
    assert current.version == 1
    assert current.hash_key == "series"
    assert current.members[0] == Member("main-statsd-0", "127.0.0.10", 8125)
    assert status["shards"] == 3
    assert status["readyShards"] == 3
    assert status["ringVersion"] == 1
    assert status["selector"] == names.selector_string(CLUSTER)
    assert status["members"][2]["name"] == "main-statsd-2"
    assert "Created" in event_reasons(kube_api)
    assert "RingUpdated" in event_reasons(kube_api)


async def test_create_waits_for_pods(kube_api: KubeApi) -> None:
    async with cluster_machinery(kube_api), running_operator():
        kube_api.create(statsd_cluster(2))
        await make_ready(kube_api, range(1))
        progressing = await wait_for_reason(kube_api, "Progressing", "WaitingForPods")
        ring_before_ready = ring(kube_api)
        await make_ready(kube_api, range(1, 2))
        await wait_until(lambda: ring_members(kube_api) == shard_names(2), "the ring lists 2")

    assert ring_before_ready is None
    assert "main-statsd-1" in progressing["message"]
    assert "WaitingForPods" in event_reasons(kube_api)
