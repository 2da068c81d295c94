"""Manifest builders for tests that use the Kubernetes API stand-in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _metadata(name: str, namespace: str | None, labels: Mapping[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def namespace(name: str) -> dict[str, Any]:
    """Build a Namespace."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def config_map(
    name: str,
    data: Mapping[str, str],
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build a ConfigMap."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(name, namespace, labels),
        "data": dict(data),
    }


def pod(
    name: str, namespace: str = "default", labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Build a Pod with one container; it stays Pending until a test marks it Ready."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _metadata(name, namespace, labels),
        "spec": {"containers": [{"name": "main", "image": "statsd:test"}]},
    }


def endpoint(
    address: str, ready: bool = True, hostname: str | None = None, pod_name: str | None = None
) -> dict[str, Any]:
    """Build one entry of ``EndpointSlice.endpoints``."""
    entry: dict[str, Any] = {"addresses": [address], "conditions": {"ready": ready}}
    if hostname is not None:
        entry["hostname"] = hostname
    if pod_name is not None:
        entry["targetRef"] = {"kind": "Pod", "name": pod_name}
    return entry


def endpoint_slice(
    name: str,
    service: str,
    endpoints: Sequence[Mapping[str, Any]],
    namespace: str = "default",
    port: int = 8125,
    port_name: str = "statsd",
    protocol: str = "UDP",
) -> dict[str, Any]:
    """Build a discovery.k8s.io/v1 EndpointSlice labelled as belonging to ``service``."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": _metadata(name, namespace, {"kubernetes.io/service-name": service}),
        "addressType": "IPv4",
        "endpoints": [dict(entry) for entry in endpoints],
        "ports": [{"name": port_name, "port": port, "protocol": protocol}],
    }
