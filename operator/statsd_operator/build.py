"""Pure builders of the child objects of a StatsdCluster, as plain dicts.

Nothing here talks to the API: each ``build_*`` function turns a validated spec
and the owner's identity into the manifest to converge to. Every child carries
an owner reference to its StatsdCluster, so deleting the cluster lets the
garbage collector delete the children, and a ``spec-hash`` annotation over
the built manifest, so the operator patches a child only when it would change.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from statsd_proxy.ringdoc import RingDocument, dump_ring

from statsd_operator import names
from statsd_operator.shardconfig import (
    LAYOUTS,
    SHARD_NAME_ENV,
    build_shard_config,
)
from statsd_operator.spec import ADMIN_PORT, ClusterSpec

CONFIG_VOLUME = "config"
# Pod template overrides copied as they are into the pod spec.
POD_SPEC_OVERRIDES = (
    "nodeSelector",
    "tolerations",
    "affinity",
    "topologySpreadConstraints",
    "priorityClassName",
    "serviceAccountName",
    "imagePullSecrets",
    "terminationGracePeriodSeconds",
)
TMP_VOLUME = "tmp"

DEFAULT_POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "runAsGroup": 65534,
    "seccompProfile": {"type": "RuntimeDefault"},
}
DEFAULT_CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


@dataclasses.dataclass(frozen=True)
class Owner:
    """The identity of the StatsdCluster that owns the children."""

    name: str
    namespace: str
    uid: str


def build_owner_reference(owner: Owner) -> dict[str, Any]:
    """Build the controller owner reference that every child carries."""
    return {
        "apiVersion": names.API_VERSION,
        "kind": names.KIND,
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def spec_hash(manifest: Mapping[str, Any]) -> str:
    """Return a short SHA-256 of a manifest in canonical JSON form."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_service(owner: Owner, spec: ClusterSpec) -> dict[str, Any]:
    """Build the headless Service that governs the shard StatefulSet.

    It publishes not-ready addresses because the ring, not the Service, decides
    which shard receives traffic. The port is named ``statsd`` for clients that
    discover shards from EndpointSlices.
    """
    return _with_hash(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _metadata(owner, names.service_name(owner.name)),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": names.selector_labels(owner.name),
                "ports": [
                    {"name": "statsd", "protocol": "UDP", "port": spec.port, "targetPort": "statsd"}
                ],
            },
        }
    )


def build_config_map(owner: Owner, spec: ClusterSpec) -> dict[str, Any]:
    """Build the ConfigMap with the shard server's configuration file."""
    return _with_hash(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _metadata(owner, names.config_map_name(owner.name)),
            "data": build_shard_config(spec, owner.name),
        }
    )


def build_ring_config_map(owner: Owner, ring: RingDocument) -> dict[str, Any]:
    """Build the ring ConfigMap, key ``ring.json``, that the proxies watch."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(owner, names.ring_config_map_name(owner.name)),
        "data": {names.RING_KEY: dump_ring(ring)},
    }


def build_statefulset(owner: Owner, spec: ClusterSpec, image: str, replicas: int) -> dict[str, Any]:
    """Build the shard StatefulSet with ``replicas`` pods.

    The replica count is the reshard planner's decision, not always
    spec.shards. The spec hash leaves replicas out, so a scale step alone never
    looks like a template change. Pods start in parallel because their order
    does not matter; a scale-down still removes the highest ordinals.
    """
    config = build_shard_config(spec, owner.name)
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(owner, names.statefulset_name(owner.name)),
        "spec": {
            "serviceName": names.service_name(owner.name),
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": names.selector_labels(owner.name)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": build_pod_template(owner, spec, image, spec_hash(config)),
        },
    }
    manifest = _with_hash(manifest)
    manifest["spec"]["replicas"] = replicas
    return manifest


def build_pod_template(
    owner: Owner, spec: ClusterSpec, image: str, config_hash: str
) -> dict[str, Any]:
    """Build the shard pod template with the user's overrides applied.

    The configuration hash annotation restarts the pods when their
    configuration changes, because a mounted file alone does not.
    """
    overrides = spec.pod_template
    labels = {**overrides.get("labels", {}), **names.common_labels(owner.name)}
    annotations = {**overrides.get("annotations", {}), names.ANNOTATION_CONFIG_HASH: config_hash}
    pod_spec: dict[str, Any] = {
        "securityContext": copy.deepcopy(
            overrides.get("securityContext", DEFAULT_POD_SECURITY_CONTEXT)
        ),
        "containers": [build_shard_container(spec, image)],
        "volumes": [
            {"name": CONFIG_VOLUME, "configMap": {"name": names.config_map_name(owner.name)}},
            {"name": TMP_VOLUME, "emptyDir": {}},
        ],
    }
    for key in POD_SPEC_OVERRIDES:
        if key in overrides:
            pod_spec[key] = copy.deepcopy(overrides[key])
    return {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod_spec}


def build_shard_container(spec: ClusterSpec, image: str) -> dict[str, Any]:
    """Build the shard server container of the pod template."""
    layout = LAYOUTS[spec.flavor]
    overrides = spec.pod_template
    container: dict[str, Any] = {
        "name": "shard",
        "image": image,
        "ports": [{"name": "statsd", "containerPort": spec.port, "protocol": "UDP"}],
        "env": [*_shard_env(spec), *copy.deepcopy(overrides.get("env", []))],
        "resources": copy.deepcopy(dict(spec.resources)),
        "securityContext": copy.deepcopy(
            overrides.get("containerSecurityContext", DEFAULT_CONTAINER_SECURITY_CONTEXT)
        ),
        "volumeMounts": [
            {"name": CONFIG_VOLUME, "mountPath": layout.mount_path, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }
    if spec.flavor != "custom":
        container["ports"].append({"name": "admin", "containerPort": ADMIN_PORT, "protocol": "TCP"})
    if spec.image_pull_policy is not None:
        container["imagePullPolicy"] = spec.image_pull_policy
    _set_process(container, spec)
    return container


def _set_process(container: dict[str, Any], spec: ClusterSpec) -> None:
    """Set the command, arguments, working directory and probes of the shard container."""
    layout = LAYOUTS[spec.flavor]
    overrides = spec.pod_template
    command = overrides.get("command") or list(layout.command)
    if command:
        container["command"] = list(command)
    if "args" in overrides:
        container["args"] = list(overrides["args"])
    if layout.working_dir is not None:
        container["workingDir"] = layout.working_dir

    readiness = overrides.get("readinessProbe", layout.readiness_probe)
    if readiness:
        container["readinessProbe"] = copy.deepcopy(readiness)
    if "livenessProbe" in overrides:
        container["livenessProbe"] = copy.deepcopy(overrides["livenessProbe"])


def _shard_env(spec: ClusterSpec) -> list[dict[str, Any]]:
    return [
        {"name": SHARD_NAME_ENV, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "STATSD_SHARD_PORT", "value": str(spec.port)},
        {"name": "STATSD_FLUSH_INTERVAL_SECONDS", "value": str(spec.flush_interval_seconds)},
        {"name": "STATSD_SHARD_CONFIG", "value": LAYOUTS[spec.flavor].config_path},
    ]


def _metadata(owner: Owner, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": names.common_labels(owner.name),
        "ownerReferences": [build_owner_reference(owner)],
    }


def _with_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    digest = spec_hash(manifest)
    manifest["metadata"].setdefault("annotations", {})[names.ANNOTATION_SPEC_HASH] = digest
    return manifest
