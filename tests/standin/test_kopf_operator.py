"""A kopf operator's whole lifecycle against the Kubernetes API stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import kopf
from kubernetes_asyncio import client

from tests.support.kube_api import KubeApi, wait_until
from tests.support.kube_objects import namespace

NAMESPACE = "widgets"
GROUP = "example.test"
STOP_SECONDS = 10
LIFECYCLE_SECONDS = 10

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object"}},
                "subresources": {"status": {}},
            }
        ],
    },
}


def build_registry(api_client: client.ApiClient, deleted: list[str]) -> kopf.OperatorRegistry:
    """Register handlers that keep a child ConfigMap in step with each Widget."""
    registry = kopf.OperatorRegistry()
    core = client.CoreV1Api(api_client)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_with_kubeconfig(**kwargs)  # reads KUBECONFIG, set by kube_api

    @kopf.on.create(GROUP, "v1", "widgets", registry=registry)
    async def create_child(
        body: kopf.Body, spec: kopf.Spec, name: str, patch: kopf.Patch, **_: Any
    ) -> None:
        child: dict[str, Any] = {
            "metadata": {"name": f"{name}-child"},
            "data": {"size": str(spec.get("size"))},
        }
        kopf.adopt(child, owner=body)
        await core.create_namespaced_config_map(NAMESPACE, child)
        patch.status["phase"] = "Ready"
        kopf.info(body, reason="ChildCreated", message=f"created {name}-child")

    @kopf.on.update(GROUP, "v1", "widgets", field="spec.size", registry=registry)
    async def resize_child(name: str, new: Any, **_: Any) -> None:
        await core.patch_namespaced_config_map(
            f"{name}-child", NAMESPACE, {"data": {"size": str(new)}}
        )

    @kopf.on.delete(GROUP, "v1", "widgets", registry=registry)
    async def record_delete(name: str, **_: Any) -> None:
        deleted.append(name)

    return registry


def fast_settings() -> kopf.OperatorSettings:
    """Return settings for one short in-process run: no peering, short waits."""
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.watching.reconnect_backoff = 0.1
    settings.queueing.idle_timeout = 0.5
    settings.queueing.exit_timeout = 1.0
    settings.posting.level = logging.INFO
    return settings


@contextlib.asynccontextmanager
async def running_operator(registry: kopf.OperatorRegistry) -> AsyncIterator[None]:
    """Run ``kopf.operator`` in a task until the block ends, then stop it by its flag."""
    stop_flag = asyncio.Event()
    ready_flag = asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=fast_settings(),
            standalone=True,
            namespaces=[NAMESPACE],
            stop_flag=stop_flag,
            ready_flag=ready_flag,
        )
    )
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await ready_flag.wait()
        yield
    finally:
        stop_flag.set()
        async with asyncio.timeout(STOP_SECONDS):
            await task


def child_size(kube_api: KubeApi) -> str | None:
    child = kube_api.get("configmaps", "big-child", NAMESPACE)
    return None if child is None else child["data"]["size"]


async def test_kopf_lifecycle(kube_api: KubeApi, kube_client: client.ApiClient) -> None:
    started = time.monotonic()
    kube_api.create(namespace(NAMESPACE))
    kube_api.create(WIDGET_CRD)
    custom = client.CustomObjectsApi(kube_client)
    deleted: list[str] = []
    widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "big"}}

    async with running_operator(build_registry(kube_client, deleted)):
        await custom.create_namespaced_custom_object(
            GROUP, "v1", NAMESPACE, "widgets", dict(widget, spec={"size": 1})
        )
        await wait_until(lambda: child_size(kube_api) == "1", "the child ConfigMap was created")
        stored = await wait_until(
            lambda: (
                (w := kube_api.get("widgets", "big", NAMESPACE))
                and w.get("status", {}).get("phase") == "Ready"
                and w
            ),
            "the Widget status became Ready",
        )
        await custom.patch_namespaced_custom_object(
            GROUP,
            "v1",
            NAMESPACE,
            "widgets",
            "big",
            {"spec": {"size": 2}},
            _content_type="application/merge-patch+json",  # the client defaults to JSON patch
        )
        await wait_until(lambda: child_size(kube_api) == "2", "the child ConfigMap was resized")
        await custom.delete_namespaced_custom_object(GROUP, "v1", NAMESPACE, "widgets", "big")
        await wait_until(
            lambda: kube_api.get("widgets", "big", NAMESPACE) is None, "the Widget was deleted"
        )
    events = kube_api.list_objects("events", NAMESPACE)
    elapsed = time.monotonic() - started

    assert stored["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
    assert deleted == ["big"]
    assert "ChildCreated" in [event["reason"] for event in events]
    assert kube_api.get("configmaps", "big-child", NAMESPACE) is None  # owner reference cascade
    assert elapsed < LIFECYCLE_SECONDS
