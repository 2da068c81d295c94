"""Resource semantics of the Kubernetes API stand-in, read through kubernetes_asyncio."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.support.kube_api import KubeApi
from tests.support.kube_objects import config_map, namespace, pod

MERGE = "application/merge-patch+json"

GAUGE_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gauges.example.test"},
    "spec": {
        "group": "example.test",
        "scope": "Namespaced",
        "names": {"plural": "gauges", "singular": "gauge", "kind": "Gauge"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {
                    "status": {},
                    "scale": {
                        "specReplicasPath": ".spec.shards",
                        "statusReplicasPath": ".status.shards",
                        "labelSelectorPath": ".status.selector",
                    },
                },
            }
        ],
    },
}


def stateful_set(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": []}},
        },
    }


async def test_version_served(kube_client: client.ApiClient) -> None:
    info = await client.VersionApi(kube_client).get_code()

    assert info.git_version == "v1.30.0"


async def test_discovery_documents(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = await client.CoreV1Api(kube_client).get_api_resources()
    groups = await client.ApisApi(kube_client).get_api_versions()
    async with aiohttp.ClientSession() as session, session.get(f"{kube_api.url}/api") as response:
        versions = await response.json()

    assert core.group_version == "v1"
    assert "pods/status" in [resource.name for resource in core.resources]
    assert {"apps", "discovery.k8s.io", "events.k8s.io"} <= {g.name for g in groups.groups}
    assert versions["versions"] == ["v1"]


async def test_create_sets_metadata(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    body = {"metadata": {"generateName": "ring-"}, "data": {"k": "v"}}

    created = await core.create_namespaced_config_map("default", body)
    listed = await core.list_namespaced_config_map("default")

    assert created.metadata.name.startswith("ring-")
    assert created.metadata.namespace == "default"
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert listed.kind == "ConfigMapList"
    assert listed.metadata.resource_version == created.metadata.resource_version


async def test_namespaces_listed(kube_client: client.ApiClient) -> None:
    listed = await client.CoreV1Api(kube_client).list_namespace()

    assert "default" in [item.metadata.name for item in listed.items]


async def test_missing_namespace_rejected(kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)

    with pytest.raises(ApiException) as caught:
        await core.create_namespaced_config_map("absent", {"metadata": {"name": "x"}})

    assert caught.value.status == 404


async def test_put_checks_version(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    stored = kube_api.create(config_map("ring", {"a": "1"}))
    fresh = dict(stored, data={"b": "2"})
    stale = dict(stored, data={"c": "3"})

    replaced = await core.replace_namespaced_config_map("ring", "default", fresh)
    with pytest.raises(ApiException) as caught:
        await core.replace_namespaced_config_map("ring", "default", stale)

    assert replaced.data == {"b": "2"}
    assert caught.value.status == 409


async def test_json_patch_test_fails(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("ring", {"a": "1"}))
    patch = [{"op": "test", "path": "/data/a", "value": "2"}, {"op": "remove", "path": "/data"}]

    with pytest.raises(ApiException) as caught:
        await core.patch_namespaced_config_map("ring", "default", patch)

    assert caught.value.status == 422
    assert kube_api.get("configmaps", "ring")["data"] == {"a": "1"}


async def test_merge_patch_removes_null(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("ring", {"a": "1", "b": "2"}))

    patched = await core.patch_namespaced_config_map(
        "ring", "default", {"data": {"a": None}}, _content_type=MERGE
    )

    assert patched.data == {"b": "2"}


async def test_finalizer_holds_deletion(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    manifest = config_map("ring", {})
    manifest["metadata"]["finalizers"] = ["example.test/hold"]
    kube_api.create(manifest)

    await core.delete_namespaced_config_map("ring", "default")
    held = kube_api.get("configmaps", "ring")
    await core.patch_namespaced_config_map(
        "ring", "default", {"metadata": {"finalizers": None}}, _content_type=MERGE
    )

    assert held is not None
    assert held["metadata"]["deletionTimestamp"]
    assert kube_api.get("configmaps", "ring") is None


async def test_pod_marked_ready(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(pod("shard-0", labels={"app": "statsd"}))
    pending = await core.read_namespaced_pod("shard-0", "default")

    kube_api.set_pod_ready("shard-0", pod_ip="127.0.0.2")
    ready = await core.read_namespaced_pod("shard-0", "default")
    running = await core.list_namespaced_pod("default", field_selector="status.phase=Running")

    assert pending.status.phase == "Pending"
    assert ready.status.pod_ip == "127.0.0.2"
    assert (ready.status.conditions[0].type, ready.status.conditions[0].status) == ("Ready", "True")
    assert [item.metadata.name for item in running.items] == ["shard-0"]


async def test_status_needs_subresource(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(pod("shard-0"))

    await core.patch_namespaced_pod("shard-0", "default", {"status": {"phase": "Failed"}})

    assert kube_api.get("pods", "shard-0")["status"]["phase"] == "Pending"


async def test_statefulset_scale(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    apps = client.AppsV1Api(kube_client)
    await apps.create_namespaced_stateful_set("default", stateful_set("statsd", 2))

    await apps.patch_namespaced_stateful_set_scale("statsd", "default", {"spec": {"replicas": 3}})
    await apps.patch_namespaced_stateful_set_status(
        "statsd", "default", {"status": {"replicas": 3, "readyReplicas": 3}}
    )
    scale = await apps.read_namespaced_stateful_set_scale("statsd", "default")
    stored = await apps.read_namespaced_stateful_set("statsd", "default")

    assert stored.spec.replicas == 3
    assert stored.status.ready_replicas == 3
    assert scale.status.selector == "app=statsd"
    assert stored.metadata.generation == 2


async def test_crd_becomes_served(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(kube_client)
    custom = client.CustomObjectsApi(kube_client)
    gauge = {"apiVersion": "example.test/v1", "kind": "Gauge", "metadata": {"name": "g"}}
    args = ("example.test", "v1", "default", "gauges")

    crd = await extensions.create_custom_resource_definition(GAUGE_CRD)
    await custom.create_namespaced_custom_object(*args, dict(gauge, spec={"shards": 1}))
    await custom.patch_namespaced_custom_object_scale(
        *args, "g", {"spec": {"replicas": 4}}, _content_type=MERGE
    )
    await custom.patch_namespaced_custom_object_status(
        *args, "g", {"status": {"shards": 2, "selector": "app=g"}}, _content_type=MERGE
    )
    scale = await custom.get_namespaced_custom_object_scale(*args, "g")
    resources = await custom.get_api_resources("example.test", "v1")

    assert [c.type for c in crd.status.conditions] == ["NamesAccepted", "Established"]
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {"replicas": 2, "selector": "app=g"}
    assert {r.name for r in resources.resources} == {"gauges", "gauges/status", "gauges/scale"}


async def test_crd_deletion_removes_objects(kube_api: KubeApi) -> None:
    kube_api.create(GAUGE_CRD)
    kube_api.create({"apiVersion": "example.test/v1", "kind": "Gauge", "metadata": {"name": "g"}})

    kube_api.delete("customresourcedefinitions", "gauges.example.test")

    with pytest.raises(KeyError):
        kube_api.resource("gauges")


async def test_owner_deletion_cascades(kube_api: KubeApi) -> None:
    kube_api.create(namespace("shards"))
    owner = kube_api.create(config_map("owner", {}, namespace="shards"))
    child = config_map("child", {}, namespace="shards")
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner"}
    child["metadata"]["ownerReferences"] = [dict(reference, uid=owner["metadata"]["uid"])]
    kube_api.create(child)

    kube_api.delete("configmaps", "owner", "shards")

    assert kube_api.get("configmaps", "child", "shards") is None


async def test_both_event_apis(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    involved = {"kind": "Pod", "name": "shard-0", "namespace": "default"}
    core_event = {"metadata": {"generateName": "e-"}, "involvedObject": involved, "reason": "A"}
    new_event = {
        "metadata": {"generateName": "e-"},
        "regarding": involved,
        "reason": "B",
        "action": "Check",
        "eventTime": "2024-01-01T00:00:00.000000Z",
        "reportingController": "example.test/checker",
        "reportingInstance": "checker-0",
    }

    await client.CoreV1Api(kube_client).create_namespaced_event("default", core_event)
    await client.EventsV1Api(kube_client).create_namespaced_event("default", new_event)

    assert [e["reason"] for e in kube_api.list_objects("events")] == ["A"]
    assert [e["reason"] for e in kube_api.list_objects("events.events.k8s.io")] == ["B"]


async def test_lease_round_trip(kube_client: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(kube_client)
    body = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}}

    await leases.create_namespaced_lease("default", body)
    read = await leases.read_namespaced_lease("leader", "default")

    assert read.spec.holder_identity == "a"


async def test_injected_failure(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("ring", {}))
    kube_api.mock["get /api/v1/namespaces/default/configmaps/ring"][:1] << 503

    with pytest.raises(ApiException) as caught:
        await core.read_namespaced_config_map("ring", "default")
    recovered = await core.read_namespaced_config_map("ring", "default")

    assert caught.value.status == 503
    assert recovered.metadata.name == "ring"
