"""Discovery documents of the Kubernetes API stand-in: /version, /api, /apis and below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.support.kube_resources import ALL_VERBS, KubeError, ResourceType

SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def discovery_document(
    types: Sequence[ResourceType], path: str, address: str
) -> dict[str, Any] | None:
    """Build the discovery document at ``path``, or return None if it is not a discovery path.

    ``address`` is the server's host:port, reported in ``/api``.
    """
    if path == "/version":
        return SERVER_VERSION
    groups = _groups(types)
    if path == "/":
        paths = {"/api", "/api/v1", "/apis", "/version"}
        for group, versions in groups.items():
            paths.add(f"/apis/{group}")
            paths.update(f"/apis/{group}/{version}" for version in versions)
        return {"paths": sorted(paths)}
    if path == "/api":
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }
    if path == "/apis":
        listed = [_group(name, versions) for name, versions in groups.items()]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}
    parts = path.strip("/").split("/")
    if parts[0] == "apis" and len(parts) == 2:
        if parts[1] not in groups:
            raise KubeError(404, "NotFound", f"the server has no API group {parts[1]!r}")
        return dict(_group(parts[1], groups[parts[1]]), kind="APIGroup", apiVersion="v1")
    if (parts[0] == "api" and len(parts) == 2) or (parts[0] == "apis" and len(parts) == 3):
        group = "" if parts[0] == "api" else parts[1]
        return _resource_list(types, group, parts[-1])
    return None


def _groups(types: Sequence[ResourceType]) -> dict[str, list[str]]:
    """Map each named API group to its versions, in the order they were registered."""
    groups: dict[str, list[str]] = {}
    for resource in types:
        versions = groups.setdefault(resource.group, [])
        if resource.version not in versions:
            versions.append(resource.version)
    groups.pop("", None)
    return groups


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{version}", "version": version} for version in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _resource_list(types: Sequence[ResourceType], group: str, version: str) -> dict[str, Any]:
    resources = [r for r in types if r.group_version == (group, version)]
    if not resources:
        raise KubeError(404, "NotFound", f"the server has no API version {group}/{version}")
    entries: list[dict[str, Any]] = []
    for resource in resources:
        common = {"namespaced": resource.namespaced, "singularName": resource.kind.lower()}
        entries.append(
            dict(
                common,
                name=resource.plural,
                kind=resource.kind,
                verbs=list(ALL_VERBS),
                shortNames=list(resource.short_names),
            )
        )
        for subresource in sorted(resource.subresources):
            scale = {"group": "autoscaling", "version": "v1"} if subresource == "scale" else {}
            entries.append(
                dict(
                    common,
                    name=f"{resource.plural}/{subresource}",
                    verbs=["get", "patch", "update"],
                    kind="Scale" if scale else resource.kind,
                    **scale,
                )
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }
