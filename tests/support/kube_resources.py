"""Resource types that the Kubernetes API stand-in serves, and its API errors.

The built-in set covers what statsd-proxy and its operator touch. A CustomResourceDefinition
stored through the API adds one resource type per served version (see ``crd_resource_types``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
CRD_GROUP = "apiextensions.k8s.io"


class KubeError(Exception):
    """An API error that the stand-in returns as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, **details: Any) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """Build the ``Status`` body that a real API server sends for this error."""
        return {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


@dataclasses.dataclass(frozen=True)
class ScalePaths:
    """Where the ``scale`` subresource reads and writes its fields, as dotted paths."""

    spec_replicas: str = "spec.replicas"
    status_replicas: str = "status.replicas"
    label_selector: str | None = "spec.selector"


@dataclasses.dataclass(frozen=True)
class ResourceType:
    """One served resource: a plural name in one group and version."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()
    scale: ScalePaths | None = None

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` of objects of this resource, such as ``v1`` or ``apps/v1``."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    def not_found(self, name: str) -> KubeError:
        """Build the 404 error for a missing object of this resource."""
        qualified = f"{self.plural}.{self.group}" if self.group else self.plural
        return KubeError(
            404,
            "NotFound",
            f'{qualified} "{name}" not found',
            name=name,
            group=self.group,
            kind=self.plural,
        )


def _builtin(group: str, version: str, plural: str, kind: str, **kwargs: Any) -> ResourceType:
    return ResourceType(group, version, plural, kind, **kwargs)


_STATUS = frozenset({"status"})
_STATUS_SCALE = frozenset({"status", "scale"})

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", namespaced=False, subresources=_STATUS),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("", "v1", "secrets", "Secret"),
    _builtin("", "v1", "pods", "Pod", subresources=_STATUS, short_names=("po",)),
    _builtin("", "v1", "services", "Service", subresources=_STATUS, short_names=("svc",)),
    _builtin("", "v1", "endpoints", "Endpoints", short_names=("ep",)),
    _builtin("", "v1", "events", "Event", short_names=("ev",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _builtin(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        subresources=_STATUS_SCALE,
        short_names=("sts",),
        scale=ScalePaths(),
    ),
    _builtin(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        subresources=_STATUS_SCALE,
        short_names=("deploy",),
        scale=ScalePaths(),
    ),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _builtin("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    _builtin(
        CRD_GROUP,
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        subresources=_STATUS,
        short_names=("crd", "crds"),
    ),
)


def _scale_paths(subresources: Mapping[str, Any]) -> ScalePaths | None:
    scale = subresources.get("scale")
    if scale is None:
        return None
    return ScalePaths(
        spec_replicas=scale.get("specReplicasPath", ".spec.replicas").lstrip("."),
        status_replicas=scale.get("statusReplicasPath", ".status.replicas").lstrip("."),
        label_selector=(scale.get("labelSelectorPath") or "").lstrip(".") or None,
    )


def crd_resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """Build the resource types that a CustomResourceDefinition serves, one per version."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    result: list[ResourceType] = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                subresources=frozenset(key for key in ("status", "scale") if key in subresources),
                short_names=tuple(names.get("shortNames", ())),
                scale=_scale_paths(subresources),
            )
        )
    return result


def crd_status(crd: Mapping[str, Any]) -> dict[str, Any]:
    """Build the status that an API server reports for an accepted CRD."""
    spec = crd.get("spec", {})
    conditions = [
        {"type": condition, "status": "True", "reason": reason, "message": "accepted"}
        for condition, reason in (
            ("NamesAccepted", "NoConflicts"),
            ("Established", "InitialNamesAccepted"),
        )
    ]
    return {
        "acceptedNames": dict(spec.get("names", {})),
        "conditions": conditions,
        "storedVersions": [v["name"] for v in spec.get("versions", []) if v.get("storage")],
    }


def get_path(obj: Mapping[str, Any], path: str) -> Any:
    """Return the value at a dotted path such as ``spec.replicas``, or None if it is missing."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _require_scale(resource: ResourceType) -> ScalePaths:
    if resource.scale is None:
        raise KubeError(404, "NotFound", f"{resource.plural} has no scale subresource")
    return resource.scale


def build_scale(resource: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Build the ``autoscaling/v1`` Scale object of a scalable object."""
    paths = _require_scale(resource)
    selector = get_path(obj, paths.label_selector) if paths.label_selector else None
    if isinstance(selector, Mapping):  # a LabelSelector, as in StatefulSet.spec.selector
        labels = selector.get("matchLabels") or {}
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    meta = obj["metadata"]
    identity = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {key: meta[key] for key in identity if key in meta},
        "spec": {"replicas": int(get_path(obj, paths.spec_replicas) or 0)},
        "status": {
            "replicas": int(get_path(obj, paths.status_replicas) or 0),
            "selector": selector or "",
        },
    }


def apply_scale(
    resource: ResourceType, obj: Mapping[str, Any], scale: Mapping[str, Any]
) -> dict[str, Any]:
    """Return a copy of ``obj`` with the replica count of a Scale object written into it."""
    replicas = scale.get("spec", {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise KubeError(
            422, "Invalid", f"spec.replicas must be a non-negative integer, not {replicas!r}"
        )
    result = copy.deepcopy(dict(obj))
    *parents, last = _require_scale(resource).spec_replicas.split(".")
    target = result
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = replicas
    return result
