"""The chart's operator RBAC rules against the API calls the operator makes."""

from __future__ import annotations

import re
from typing import Any

from statsd_operator import names

from tests.chart.rendering import load_all, require_helm, template
from tests.operator.harness import (
    CLUSTER,
    NAMESPACE,
    cluster_machinery,
    converge,
    replicas,
    ring_members,
    running_operator,
    shard_names,
)
from tests.support.kube_api import KubeApi, wait_until

# /api/v1/... or /apis/GROUP/VERSION/..., optionally namespaced, then the
# resource, an object name and a subresource.
_RESOURCE_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)"
    r"(?:/namespaces/[^/]+)?/(?P<resource>[^/]+)(?:/(?P<name>[^/]+)(?:/(?P<sub>[^/]+))?)?$"
)
Permission = tuple[str, str, str]  # API group, resource (with "/subresource"), verb


def permission(method: str, path: str, params: dict[str, Any]) -> Permission | None:
    """Return the RBAC permission a request needs, or None for discovery paths."""
    match = _RESOURCE_PATH.match(path)
    if match is None or (path.startswith("/apis/") and path.count("/") < 4):
        return None
    resource = match["resource"] + (f"/{match['sub']}" if match["sub"] else "")
    if method == "GET" and match["name"] is None:
        verb = "watch" if str(params.get("watch", "")).lower() in ("1", "true") else "list"
    else:
        verb = {"GET": "get", "POST": "create", "PATCH": "patch", "PUT": "update"}.get(
            method, "delete"
        )
    return (match["group"] or "", resource, verb)


def granted_permissions() -> set[Permission]:
    """Return what the chart's operator ClusterRole grants."""
    helm = require_helm()
    manifests = load_all(
        template(
            helm,
            ["--set", "statsdCluster.create=false", "--show-only", "templates/operator-rbac.yaml"],
        )
    )
    role = next(m for m in manifests if m["kind"] == "ClusterRole")
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def used_permissions(kube_api: KubeApi) -> set[Permission]:
    found = (permission(r.method, r.url.path, dict(r.params)) for r in kube_api.requests)
    return {p for p in found if p is not None}


async def exercise_operator(kube_api: KubeApi) -> None:
    """Create, reconfigure, shrink and delete a cluster, using every permission."""
    await converge(kube_api, 2)
    kube_api.patch(names.PLURAL, CLUSTER, {"spec": {"port": 9125, "shards": 1}}, NAMESPACE)
    await wait_until(lambda: replicas(kube_api) == 1, "the StatefulSet shrinks to 1")
    await wait_until(lambda: ring_members(kube_api) == shard_names(1), "the ring lists 1")
    kube_api.delete(names.PLURAL, CLUSTER, NAMESPACE)
    await wait_until(
        lambda: kube_api.get(names.PLURAL, CLUSTER, NAMESPACE) is None, "the cluster is gone"
    )


async def test_rbac_matches_calls(kube_api: KubeApi) -> None:
    granted = granted_permissions()

    async with cluster_machinery(kube_api), running_operator():
        await exercise_operator(kube_api)
    used = used_permissions(kube_api)

    assert used - granted == set()
    assert granted - used == set()


def test_permission_parsing() -> None:
    cases = {
        ("GET", "/api/v1/namespaces/ns/pods", ""): ("", "pods", "list"),
        ("GET", "/api/v1/namespaces/ns/pods", "true"): ("", "pods", "watch"),
        ("GET", "/apis/apps/v1/namespaces/ns/statefulsets/x", ""): ("apps", "statefulsets", "get"),
        ("PATCH", "/apis/g.io/v1/namespaces/ns/things/x/status", ""): (
            "g.io",
            "things/status",
            "patch",
        ),
        ("GET", "/apis/g.io/v1/things", ""): ("g.io", "things", "list"),
        ("GET", "/apis/g.io/v1", ""): None,
        ("GET", "/api/v1", ""): None,
        ("GET", "/apis", ""): None,
    }

    for (method, path, watch), expected in cases.items():
        assert permission(method, path, {"watch": watch}) == expected, path
