"""Run statsd-operator in-process against the Kubernetes API stand-in.

The stand-in has no controllers, so this module adds the two pieces of a
cluster that the operator relies on:

- `StatefulSetController` creates and deletes the pods of each StatefulSet as
  its replica count changes (pods stay Pending until a test marks them Ready);
- `Recorder` timestamps every change of the ring ConfigMap and of the
  StatefulSet's replicas, so tests can check the order and timing of steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pathlib
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import kopf
import yaml
from kubernetes_asyncio import client
from statsd_operator import names
from statsd_operator.handlers import build_registry
from statsd_operator.options import Options
from statsd_proxy.ringdoc import RingDocument, RingFormatError, parse_ring

from tests.support.kube_api import KubeApi, wait_until

NAMESPACE = "default"
CLUSTER = "main"
CRD_PATH = (
    pathlib.Path(__file__).parents[2]
    / "charts/statsd-proxy/crds/statsdclusters.statsdproxy.io.yaml"
)
STOP_SECONDS = 10
STOP_GRACE_SECONDS = 2.0
TICK = 0.02

# Short waits so that a whole reshard takes a few seconds with 1 s flushes.
FAST_OPTIONS = Options(
    ring_lead=timedelta(seconds=0.2),
    drain_margin=timedelta(seconds=0.2),
    poll_interval=timedelta(seconds=0.2),
    resync_interval=timedelta(seconds=0.5),
)


def install_crd(kube_api: KubeApi) -> None:
    """Create the chart's StatsdCluster CRD in the stand-in."""
    kube_api.create(yaml.safe_load(CRD_PATH.read_text()))


def statsd_cluster(shards: int, **spec: Any) -> dict[str, Any]:
    """Build a StatsdCluster "main" with 1 s flushes to a Graphite sink on loopback."""
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "metadata": {"name": CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "shards": shards,
            "flushIntervalSeconds": 1,
            "sink": {"graphite": {"host": "127.0.0.1"}},
            **spec,
        },
    }


def pod_ip(ordinal: int, generation: int = 0) -> str:
    """Return the loopback address a test gives shard pod ``ordinal``."""
    return f"127.0.{generation}.{10 + ordinal}"


def fast_settings() -> kopf.OperatorSettings:
    """Return kopf settings for one short in-process run."""
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.watching.reconnect_backoff = 0.1
    settings.queueing.idle_timeout = 0.5
    settings.queueing.exit_timeout = 1.0
    settings.posting.level = logging.INFO
    # kopf's exit waits up to 5 s for the tasks it spawned, such as an Event
    # poster that stays for this long after its last Event.
    settings.posting.idle_timeout = 0.2
    return settings


@contextlib.asynccontextmanager
async def running_operator(options: Options = FAST_OPTIONS) -> AsyncIterator[None]:
    """Run the operator in a task until the block ends, then stop it by its flag."""
    stop_flag = asyncio.Event()
    ready_flag = asyncio.Event()
    task = asyncio.create_task(
        kopf.operator(
            registry=build_registry(options),
            settings=fast_settings(),
            standalone=True,
            namespaces=[NAMESPACE],
            stop_flag=stop_flag,
            ready_flag=ready_flag,
            memo=kopf.Memo(),
        ),
        name="operator",
    )
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await ready_flag.wait()
        yield
    finally:
        stop_flag.set()
        done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
        if not done:
            # kopf 1.45 waits 5 s for tasks left after its own shutdown, such as a
            # resync timer that a late watch event spawned. Cancelling ends that wait.
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(STOP_SECONDS):
                await task


class StatefulSetController:
    """Keeps the pods of every StatefulSet in a namespace at its replica count."""

    def __init__(self, kube_api: KubeApi, namespace: str = NAMESPACE) -> None:
        self.kube_api = kube_api
        self.namespace = namespace

    async def run(self) -> None:
        """Converge pods to replicas every tick until cancelled."""
        while True:
            for statefulset in self.kube_api.list_objects("statefulsets.apps", self.namespace):
                self.converge(statefulset)
            await asyncio.sleep(TICK)

    def converge(self, statefulset: dict[str, Any]) -> None:
        """Create the missing pods and delete the pods beyond the replica count."""
        name = statefulset["metadata"]["name"]
        replicas = statefulset["spec"].get("replicas", 1)
        for ordinal in range(replicas):
            pod = f"{name}-{ordinal}"
            if self.kube_api.get("pods", pod, self.namespace) is None:
                self.kube_api.create(self._pod(statefulset, pod))
        for pod in self.kube_api.list_objects("pods", self.namespace):
            prefix, _, ordinal = pod["metadata"]["name"].rpartition("-")
            if prefix == name and ordinal.isdigit() and int(ordinal) >= replicas:
                self.kube_api.delete("pods", pod["metadata"]["name"], self.namespace)

    def _pod(self, statefulset: dict[str, Any], name: str) -> dict[str, Any]:
        template = statefulset["spec"]["template"]
        meta = statefulset["metadata"]
        owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": meta["name"]}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [dict(owner, uid=meta["uid"], controller=True)],
            },
            "spec": template["spec"],
        }


@dataclasses.dataclass
class Recorder:
    """Wall-clock times of ring and replica changes of the cluster "main"."""

    kube_api: KubeApi
    rings: list[tuple[float, RingDocument]] = dataclasses.field(default_factory=list)
    replicas: list[tuple[float, int]] = dataclasses.field(default_factory=list)

    async def run(self) -> None:
        """Record every change from the store's history until cancelled.

        Each change is stamped when this poll finds it, at most one tick late.
        """
        store = self.kube_api.store
        revision: int = self.kube_api.run(lambda: store.revision)
        while True:
            changes = self.kube_api.run(store.changes_since, revision)
            now = time.time()
            for change in changes:
                revision = change.revision
                self._record(change.key, change.obj, now)
            await asyncio.sleep(TICK / 2)

    def _record(self, key: tuple[str, str, str, str], obj: dict[str, Any], now: float) -> None:
        _, plural, _, name = key
        if plural == "configmaps" and name == names.ring_config_map_name(CLUSTER):
            try:
                ring = parse_ring(obj.get("data", {}).get(names.RING_KEY, ""))
            except RingFormatError:
                return
            if not self.rings or self.rings[-1][1] != ring:
                self.rings.append((now, ring))
        if plural == "statefulsets" and name == names.statefulset_name(CLUSTER):
            count = obj["spec"].get("replicas", 1)
            if not self.replicas or self.replicas[-1][1] != count:
                self.replicas.append((now, count))

    def ever_members(self) -> set[str]:
        """Return every name that was a member of any recorded ring."""
        return {name for _, ring in self.rings for name in ring.member_names}


@contextlib.asynccontextmanager
async def cluster_machinery(kube_api: KubeApi) -> AsyncIterator[Recorder]:
    """Install the CRD and run the StatefulSet controller and a recorder."""
    install_crd(kube_api)
    recorder = Recorder(kube_api)
    tasks = [
        asyncio.create_task(StatefulSetController(kube_api).run(), name="statefulset-controller"),
        asyncio.create_task(recorder.run(), name="recorder"),
    ]
    try:
        yield recorder
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def ring(kube_api: KubeApi) -> RingDocument | None:
    """Return the ring in the ring ConfigMap, or None when there is none."""
    config_map = kube_api.get("configmaps", names.ring_config_map_name(CLUSTER), NAMESPACE)
    if config_map is None:
        return None
    return parse_ring(config_map["data"][names.RING_KEY])


def ring_members(kube_api: KubeApi) -> list[str]:
    """Return the member names of the current ring (empty without a ring)."""
    current = ring(kube_api)
    return [] if current is None else [member.name for member in current.members]


def shard_names(count: int) -> list[str]:
    """Return the pod names of shards 0 to ``count - 1``."""
    return [names.pod_name(CLUSTER, i) for i in range(count)]


def replicas(kube_api: KubeApi) -> int | None:
    """Return the shard StatefulSet's replicas, or None when it does not exist."""
    found = kube_api.get("statefulsets.apps", names.statefulset_name(CLUSTER), NAMESPACE)
    return None if found is None else found["spec"].get("replicas", 1)


def cluster_status(kube_api: KubeApi) -> dict[str, Any]:
    """Return the StatsdCluster's status (empty when it has none or is gone)."""
    found = kube_api.get(names.PLURAL, CLUSTER, NAMESPACE)
    return {} if found is None else dict(found.get("status") or {})


def condition(kube_api: KubeApi, kind: str) -> dict[str, Any]:
    """Return one condition of the StatsdCluster's status, or an empty dict."""
    for found in cluster_status(kube_api).get("conditions", []):
        if found.get("type") == kind:
            return dict(found)
    return {}


def event_reasons(kube_api: KubeApi) -> list[str]:
    """Return the reasons of the Events about the StatsdCluster, oldest first."""
    events = kube_api.list_objects("events", NAMESPACE)
    return [e["reason"] for e in events if e.get("involvedObject", {}).get("name") == CLUSTER]


async def set_shards(kube_client: Any, shards: int) -> None:
    """Change spec.shards through the scale subresource, as kubectl scale does."""
    custom = client.CustomObjectsApi(kube_client)
    await custom.patch_namespaced_custom_object_scale(
        names.GROUP,
        names.VERSION,
        NAMESPACE,
        names.PLURAL,
        CLUSTER,
        {"spec": {"replicas": shards}},
        _content_type="application/merge-patch+json",
    )


async def make_ready(kube_api: KubeApi, ordinals: range, generation: int = 0) -> None:
    """Wait for shard pods to exist, then mark them Ready with loopback IPs."""
    for ordinal in ordinals:
        name = names.pod_name(CLUSTER, ordinal)
        await wait_until(
            lambda name=name: kube_api.get("pods", name, NAMESPACE),  # type: ignore[misc]
            f"pod {name} was created",
            seconds=10,
        )
        kube_api.set_pod_ready(name, NAMESPACE, pod_ip=pod_ip(ordinal, generation))


async def converge(kube_api: KubeApi, shards: int) -> None:
    """Create the cluster with ``shards`` Ready shards and wait for its ring."""
    kube_api.create(statsd_cluster(shards))
    await make_ready(kube_api, range(shards))
    await wait_until(
        lambda: ring_members(kube_api) == shard_names(shards),
        f"the ring lists {shards} shards",
        seconds=10,
    )
    await wait_until(
        lambda: condition(kube_api, "Ready").get("status") == "True",
        "the StatsdCluster is Ready",
        seconds=10,
    )


async def wait_for_reason(kube_api: KubeApi, kind: str, reason: str) -> dict[str, Any]:
    """Wait until a status condition has ``reason`` and return that condition."""
    await wait_until(
        lambda: condition(kube_api, kind).get("reason") == reason,
        f"the {kind} condition has reason {reason}",
        seconds=10,
    )
    return condition(kube_api, kind)
