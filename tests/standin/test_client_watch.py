"""List and watch through kubernetes_asyncio against the Kubernetes API stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from tests.support.kube_api import KubeApi, wait_until
from tests.support.kube_objects import config_map, endpoint, endpoint_slice

WATCH_SECONDS = 5


async def collect(stream: watch.Watch, count: int) -> list[tuple[str, str]]:
    """Read ``count`` events from a watch stream as (type, name) pairs, then stop it."""
    events: list[tuple[str, str]] = []
    async with asyncio.timeout(WATCH_SECONDS):
        async for event in stream:
            events.append((event["type"], event["raw_object"]["metadata"]["name"]))
            if len(events) == count:
                break
    await stream.close()
    return events


async def test_watch_resumes_from_version(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("first", {"k": "1"}))
    listed = await core.list_namespaced_config_map("default")
    kube_api.create(config_map("second", {"k": "2"}))
    kube_api.patch("configmaps", "first", {"data": {"k": "changed"}})

    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=WATCH_SECONDS,
    )
    events = await collect(stream, 2)

    assert listed.kind == "ConfigMapList"
    assert [item.metadata.name for item in listed.items] == ["first"]
    assert events == [("ADDED", "second"), ("MODIFIED", "first")]


async def test_watch_sees_change_at_start(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    stream = watch.Watch().stream(
        core.list_namespaced_config_map, "default", timeout_seconds=WATCH_SECONDS
    )
    reader = asyncio.create_task(collect(stream, 2))
    await kube_api.wait_for_watches("configmaps")
    kube_api.create(config_map("early", {}))
    kube_api.create(config_map("late", {}))

    events = await reader

    assert events == [("ADDED", "early"), ("ADDED", "late")]


async def test_watch_timeout_ends_stream(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    loop = asyncio.get_running_loop()
    started = loop.time()

    stream = watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=1)
    events = [event async for event in stream]

    assert events == []
    assert 0.9 <= loop.time() - started < WATCH_SECONDS


async def test_old_version_gets_410(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("before", {}))
    listed = await core.list_namespaced_config_map("default")
    kube_api.compact()
    stale = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=listed.metadata.resource_version,
        timeout_seconds=WATCH_SECONDS,
    )

    with pytest.raises(ApiException) as caught:
        await collect(stale, 1)
    relisted = await core.list_namespaced_config_map("default")
    kube_api.create(config_map("after", {}))
    fresh = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=relisted.metadata.resource_version,
        timeout_seconds=WATCH_SECONDS,
    )
    events = await collect(fresh, 1)

    assert caught.value.status == 410
    assert [item.metadata.name for item in relisted.items] == ["before"]
    assert events == [("ADDED", "after")]


async def test_compact_ends_open_watch(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("seen", {}))
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default")  # no timeout
    reader = asyncio.create_task(collect(stream, 2))
    await kube_api.wait_for_watches("configmaps")

    kube_api.compact()

    with pytest.raises(ApiException) as caught:
        await reader
    assert caught.value.status == 410


async def test_slices_by_label(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    discovery = client.DiscoveryV1Api(kube_client)
    kube_api.create(endpoint_slice("ring-abc", "ring", [endpoint("127.0.0.2")]))
    kube_api.create(endpoint_slice("other-abc", "other", [endpoint("127.0.0.3")]))
    selector = "kubernetes.io/service-name=ring"

    listed = await discovery.list_namespaced_endpoint_slice("default", label_selector=selector)
    stream = watch.Watch().stream(
        discovery.list_namespaced_endpoint_slice,
        "default",
        label_selector=selector,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=WATCH_SECONDS,
    )
    reader = asyncio.create_task(collect(stream, 1))
    await kube_api.wait_for_watches("endpointslices")
    kube_api.patch("endpointslices.discovery.k8s.io", "other-abc", {"endpoints": []})
    kube_api.patch("endpointslices.discovery.k8s.io", "ring-abc", {"endpoints": []})
    events = await reader

    assert [item.metadata.name for item in listed.items] == ["ring-abc"]
    assert listed.items[0].endpoints[0].conditions.ready is True
    assert events == [("MODIFIED", "ring-abc")]


async def test_relabel_leaves_watch(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("ring", {}, labels={"role": "ring"}))
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        label_selector="role in (ring,spare)",
        timeout_seconds=WATCH_SECONDS,
    )
    reader = asyncio.create_task(collect(stream, 3))
    await kube_api.wait_for_watches("configmaps")

    kube_api.patch("configmaps", "ring", {"metadata": {"labels": {"role": "other"}}})
    kube_api.patch("configmaps", "ring", {"metadata": {"labels": {"role": "spare"}}})
    events = await reader

    assert events == [("ADDED", "ring"), ("DELETED", "ring"), ("ADDED", "ring")]


async def test_watch_one_by_name(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    kube_api.create(config_map("ring", {"v": "1"}))
    kube_api.create(config_map("other", {}))
    stream = watch.Watch().stream(
        core.list_namespaced_config_map,
        "default",
        field_selector="metadata.name=ring",
        timeout_seconds=WATCH_SECONDS,
    )
    reader = asyncio.create_task(collect(stream, 4))
    await kube_api.wait_for_watches("configmaps")

    kube_api.patch("configmaps", "other", {"data": {"v": "2"}})
    kube_api.patch("configmaps", "ring", {"data": {"v": "2"}})
    kube_api.delete("configmaps", "ring")
    kube_api.create(config_map("ring", {"v": "3"}))
    events = await reader

    assert events == [
        ("ADDED", "ring"),
        ("MODIFIED", "ring"),
        ("DELETED", "ring"),
        ("ADDED", "ring"),
    ]


async def test_kubeconfig_loads(kube_api: KubeApi) -> None:
    configuration = client.Configuration()

    await config.load_kube_config(client_configuration=configuration)

    assert configuration.host == kube_api.url


def test_sync_helpers(kube_api: KubeApi) -> None:
    kube_api.create(config_map("ring", {"a": "1"}))

    kube_api.patch("configmaps", "ring", [{"op": "replace", "path": "/data/a", "value": "2"}])
    patched = kube_api.get("configmaps", "ring")
    gone = kube_api.delete("configmaps", "ring")

    assert patched is not None
    assert patched["data"] == {"a": "2"}
    assert gone is True
    assert kube_api.list_objects("configmaps") == []


async def _watch_forever(core: client.CoreV1Api, seen: list[str], reconnects: list[Any]) -> None:
    """Watch ConfigMaps the way a long-running client does: resume after every failure."""
    version = (await core.list_namespaced_config_map("default")).metadata.resource_version
    while True:
        try:
            async for event in watch.Watch().stream(
                core.list_namespaced_config_map, "default", resource_version=version
            ):
                version = event["object"].metadata.resource_version
                seen.append(event["object"].metadata.name)
        except aiohttp.ClientError as error:
            reconnects.append(error)
            await asyncio.sleep(0.05)


async def test_restart_mid_watch(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    core = client.CoreV1Api(kube_client)
    seen: list[str] = []
    reconnects: list[Any] = []
    watcher = asyncio.create_task(_watch_forever(core, seen, reconnects))
    await kube_api.wait_for_watches("configmaps")
    kube_api.create(config_map("before-stop", {}))
    await wait_until(lambda: "before-stop" in seen, "the watch saw the first ConfigMap")

    await kube_api.stop()
    kube_api.create(config_map("while-down", {}))
    await wait_until(lambda: reconnects, "the client failed to reach the stopped server")
    await kube_api.start()
    await wait_until(lambda: "while-down" in seen, "the resumed watch saw the missed ConfigMap")
    kube_api.create(config_map("after-start", {}))
    await wait_until(lambda: "after-start" in seen, "the resumed watch saw a new ConfigMap")
    watcher.cancel()

    assert seen == ["before-stop", "while-down", "after-start"]
    assert isinstance(reconnects[0], aiohttp.ClientConnectionError)
