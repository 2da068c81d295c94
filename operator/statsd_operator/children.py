"""Reading and converging the child objects of one StatsdCluster.

The functions here are the thin layer between the pure builders and planner
and the API: `observe` reads what exists into a planner `Observed`, and the
``ensure_*``/``apply_*`` functions make the API match a built manifest or a
planned step. Updates are JSON merge patches that also delete the keys the
operator owns but no longer wants, because a merge patch keeps absent keys.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from statsd_proxy.ringdoc import RingDocument, RingFormatError, parse_ring, ring_from_mapping

from statsd_operator import names
from statsd_operator.build import POD_SPEC_OVERRIDES, Owner, build_ring_config_map
from statsd_operator.kube import KubeClient
from statsd_operator.planner import Observed, PodState


@dataclasses.dataclass(frozen=True)
class RingRead:
    """The ring as found: from the ConfigMap, else recovered from the status."""

    ring: RingDocument | None
    stored: bool
    problem: str | None = None


async def ensure_object(
    client: KubeClient, desired: Mapping[str, Any], *, create: bool = True
) -> str:
    """Create or update one child; return "created", "updated", "unchanged" or "missing".

    An existing object is patched only when its spec-hash annotation differs
    from the desired one. With ``create=False`` a missing object stays missing.
    """
    meta = desired["metadata"]
    current = await client.get(
        desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"]
    )
    if current is None:
        if not create:
            return "missing"
        await client.create(desired)
        return "created"
    if _spec_hash(current) == _spec_hash(desired):
        return "unchanged"
    patch = build_update_patch(current, desired)
    await client.merge_patch(
        desired["apiVersion"], desired["kind"], meta["namespace"], meta["name"], patch
    )
    return "updated"


def build_update_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Build the merge patch that turns ``current`` into ``desired`` for the owned fields.

    The StatefulSet's replicas are left out because the reshard planner sets
    them, and its immutable fields (selector, serviceName, podManagementPolicy)
    are left out because the API rejects any change to them.
    """
    meta = desired["metadata"]
    patch: dict[str, Any] = {
        "metadata": {
            "labels": dict(meta.get("labels", {})),
            "annotations": dict(meta.get("annotations", {})),
            "ownerReferences": meta.get("ownerReferences", []),
        }
    }
    kind = desired["kind"]
    if kind == "ConfigMap":
        patch["data"] = with_removals(current.get("data"), desired.get("data", {}))
    elif kind == "Service":
        spec = dict(desired["spec"])
        spec["selector"] = with_removals(current["spec"].get("selector"), spec["selector"])
        patch["spec"] = spec
    elif kind == "StatefulSet":
        patch["spec"] = {
            "updateStrategy": desired["spec"]["updateStrategy"],
            "template": _template_patch(current["spec"]["template"], desired["spec"]["template"]),
        }
    return patch


def with_removals(current: object, desired: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``desired`` plus a null for every key of ``current`` that it lacks."""
    patch: dict[str, Any] = dict(desired)
    if isinstance(current, Mapping):
        for key in current:
            patch.setdefault(key, None)
    return patch


def _template_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    current_meta = current.get("metadata", {})
    spec = dict(desired["spec"])
    # Removing an override from the spec removes it from the StatefulSet.
    for key in POD_SPEC_OVERRIDES:
        if key in current.get("spec", {}):
            spec.setdefault(key, None)
    return {
        "metadata": {
            "labels": with_removals(current_meta.get("labels"), desired["metadata"]["labels"]),
            "annotations": with_removals(
                current_meta.get("annotations"), desired["metadata"]["annotations"]
            ),
        },
        "spec": spec,
    }


def _spec_hash(manifest: Mapping[str, Any]) -> str | None:
    annotations = manifest.get("metadata", {}).get("annotations") or {}
    value = annotations.get(names.ANNOTATION_SPEC_HASH)
    return value if isinstance(value, str) else None


async def observe(
    client: KubeClient, owner: Owner, status: Mapping[str, Any], now: datetime
) -> tuple[Observed, RingRead]:
    """Read the StatefulSet, the shard pods and the ring of one cluster."""
    statefulset = await client.get(
        "apps/v1", "StatefulSet", owner.namespace, names.statefulset_name(owner.name)
    )
    pods = await client.list_objects(
        "v1", "Pod", owner.namespace, names.selector_string(owner.name)
    )
    ring_read = await read_ring(client, owner, status)
    observed = Observed(
        replicas=statefulset_replicas(statefulset),
        pods=pod_states(owner.name, pods),
        ring=ring_read.ring,
        now=now,
        version_floor=_int(status.get("ringVersion")),
        ring_stored=ring_read.stored,
    )
    return observed, ring_read


async def read_ring(client: KubeClient, owner: Owner, status: Mapping[str, Any]) -> RingRead:
    """Read the ring ConfigMap, falling back to the ring recorded in the status."""
    config_map = await client.get(
        "v1", "ConfigMap", owner.namespace, names.ring_config_map_name(owner.name)
    )
    problem = None
    if config_map is not None:
        text = (config_map.get("data") or {}).get(names.RING_KEY)
        try:
            return RingRead(ring=parse_ring(text or ""), stored=True)
        except RingFormatError as error:
            problem = f"ring ConfigMap has an invalid {names.RING_KEY}: {error}"
    ring = ring_from_status(status)
    return RingRead(ring=ring, stored=ring is None, problem=problem)


def ring_from_status(status: Mapping[str, Any]) -> RingDocument | None:
    """Rebuild the last written ring from the status, or None when it has none."""
    members = status.get("members")
    if not members:
        return None
    raw = {
        "version": _int(status.get("ringVersion")),
        "members": members,
        "effectiveAt": status.get("ringEffectiveAt"),
    }
    try:
        return ring_from_mapping(raw)
    except RingFormatError:
        return None


def statefulset_replicas(statefulset: Mapping[str, Any] | None) -> int | None:
    """Return the StatefulSet's desired replicas (1 when unset), or None when it is missing."""
    if statefulset is None:
        return None
    replicas = (statefulset.get("spec") or {}).get("replicas", 1)
    return replicas if isinstance(replicas, int) else 1


def pod_states(cluster: str, pods: list[Mapping[str, Any]]) -> dict[str, PodState]:
    """Summarise the shard pods of one cluster by name, ignoring any other pod."""
    states = {}
    for pod in pods:
        name = pod.get("metadata", {}).get("name", "")
        if names.pod_ordinal(cluster, name) is not None:
            states[name] = pod_state(pod)
    return states


def pod_state(pod: Mapping[str, Any]) -> PodState:
    """Summarise one pod: its Ready condition, its IP and whether it is terminating."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return PodState(
        name=pod["metadata"]["name"],
        ready=ready,
        ip=status.get("podIP") or None,
        terminating=pod["metadata"].get("deletionTimestamp") is not None,
    )


async def write_ring(client: KubeClient, owner: Owner, ring: RingDocument) -> None:
    """Create the ring ConfigMap or replace its ``ring.json``."""
    desired = build_ring_config_map(owner, ring)
    meta = desired["metadata"]
    current = await client.get("v1", "ConfigMap", owner.namespace, meta["name"])
    if current is None:
        await client.create(desired)
        return
    patch = {
        "metadata": {"labels": meta["labels"], "ownerReferences": meta["ownerReferences"]},
        "data": desired["data"],
    }
    await client.merge_patch("v1", "ConfigMap", owner.namespace, meta["name"], patch)


async def set_replicas(client: KubeClient, owner: Owner, replicas: int) -> None:
    """Set the StatefulSet's replica count."""
    await client.merge_patch(
        "apps/v1",
        "StatefulSet",
        owner.namespace,
        names.statefulset_name(owner.name),
        {"spec": {"replicas": replicas}},
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
