"""Kubernetes API access for the children of a StatsdCluster, via kubernetes_asyncio.

`KubeClient` sends plain JSON through kubernetes_asyncio's ``ApiClient`` and
returns plain dicts, the same shape the ``build_*`` functions produce, without
converting to and from the generated model classes. It calls only these
endpoints, which the operator's RBAC rules grant:

- Services, ConfigMaps: get, create, patch;
- StatefulSets (apps): get, create, patch;
- Pods: list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from kubernetes_asyncio import client as k8s

MERGE_PATCH = "application/merge-patch+json"

_COLLECTIONS = {
    ("v1", "Service"): "/api/v1/namespaces/{namespace}/services",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{namespace}/configmaps",
    ("v1", "Pod"): "/api/v1/namespaces/{namespace}/pods",
    ("apps/v1", "StatefulSet"): "/apis/apps/v1/namespaces/{namespace}/statefulsets",
}
_RESPONSE_TYPES = {200: "object", 201: "object"}


class KubeClient:
    """Reads, creates and patches namespaced objects as plain dicts."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._api = api_client

    async def close(self) -> None:
        """Close the underlying ``ApiClient`` and its connections."""
        await self._api.close()

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Any | None:
        """Return the object, or None when it does not exist."""
        path = f"{collection_path(api_version, kind, namespace)}/{name}"
        try:
            return await self._call("GET", path)
        except k8s.ApiException as error:
            if error.status == 404:
                return None
            raise

    async def create(self, manifest: Mapping[str, Any]) -> Any:
        """Create the object described by a full manifest and return it."""
        path = collection_path(
            manifest["apiVersion"], manifest["kind"], manifest["metadata"]["namespace"]
        )
        return await self._call("POST", path, body=manifest)

    async def merge_patch(
        self, api_version: str, kind: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> Any:
        """Apply a JSON merge patch (RFC 7386) and return the patched object."""
        path = f"{collection_path(api_version, kind, namespace)}/{name}"
        return await self._call("PATCH", path, body=patch, content_type=MERGE_PATCH)

    async def list_objects(
        self, api_version: str, kind: str, namespace: str, label_selector: str
    ) -> list[Any]:
        """Return the objects of one kind in a namespace that match a label selector."""
        path = collection_path(api_version, kind, namespace)
        found = await self._call("GET", path, query=[("labelSelector", label_selector)])
        return list(cast(Mapping[str, Any], found).get("items") or [])

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        return await self._api.call_api(
            path,
            method,
            query_params=query or [],
            header_params={"Accept": "application/json", "Content-Type": content_type},
            body=body,
            response_types_map=_RESPONSE_TYPES,
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
        )


def collection_path(api_version: str, kind: str, namespace: str) -> str:
    """Return the API path of a namespaced collection, such as ``/api/v1/.../pods``."""
    try:
        template = _COLLECTIONS[(api_version, kind)]
    except KeyError:
        raise ValueError(f"unsupported object kind {api_version}/{kind}") from None
    return template.format(namespace=namespace)


def is_conflict(error: BaseException) -> bool:
    """Return whether an API error is 409 Conflict (already exists or changed meanwhile)."""
    return isinstance(error, k8s.ApiException) and error.status == 409
