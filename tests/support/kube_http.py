"""HTTP routes of the Kubernetes API stand-in: CRUD, subresources and watch."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import time
from collections.abc import Mapping
from typing import Any

import aiohttp.web
from kmock._internal import rendering  # kmock 0.8 exports no public name for its parsed request

from tests.support.kube_discovery import discovery_document
from tests.support.kube_patch import apply_patch
from tests.support.kube_resources import KubeError, ResourceType
from tests.support.kube_select import SelectorError, parse_field_selector, parse_label_selector
from tests.support.kube_store import Change, ObjectStore

NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclasses.dataclass(frozen=True)
class ApiPath:
    """A resource URL split into its parts; ``namespace`` is None for cluster-wide URLs."""

    group: str
    version: str
    plural: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


def parse_api_path(path: str) -> ApiPath | None:
    """Split a resource URL (``/api/v1/...``, ``/apis/GROUP/VERSION/...``) or return None."""
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    rest = rest + [None] * (3 - len(rest))  # type: ignore[list-item]
    return ApiPath(group, version, rest[0], namespace, rest[1], rest[2])


def is_true(value: str | None) -> bool:
    """Read a boolean query parameter the way the API server does (``true``, ``True``, ``1``)."""
    return (value or "").lower() in ("true", "1")


class ApiRoutes:
    """Serves API requests from an :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore, address: str) -> None:
        self.store = store
        self.address = address  # host:port, for the discovery documents
        self.open_watches: collections.Counter[tuple[str, str]] = collections.Counter()
        self._watch_epoch = 0  # incremented to end every open watch

    def close_watches(self) -> None:
        """End every open watch stream cleanly, as an API server does at its watch timeout."""
        self._watch_epoch += 1
        self.store.wake_watches()

    async def serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """Serve one request; API errors become ``Status`` bodies with their HTTP code."""
        try:
            return await self._route(request)
        except KubeError as error:
            return aiohttp.web.json_response(error.status(), status=error.code)
        except SelectorError as error:
            bad = KubeError(400, "BadRequest", str(error))
            return aiohttp.web.json_response(bad.status(), status=400)

    async def _route(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        path = request.url.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        if request.method == "GET":
            document = discovery_document(self.store.types(), path, self.address)
            if document is not None:
                return aiohttp.web.json_response(document)
        parsed = parse_api_path(path)
        if parsed is None:
            raise KubeError(404, "NotFound", f"the server could not find the requested URL {path}")
        resource = self.store.lookup(parsed.group, parsed.version, parsed.plural)
        if parsed.namespace is not None and not resource.namespaced:
            raise KubeError(404, "NotFound", f"{resource.plural} is not a namespaced resource")
        if request.method == "GET" and is_true(request.params.get("watch")):
            return await self._watch(request, resource, parsed)
        if parsed.name is None:
            return self._collection(request, resource, parsed)
        return self._item(request, resource, parsed)

    # Objects.

    def _collection(
        self, request: rendering.Request, resource: ResourceType, parsed: ApiPath
    ) -> aiohttp.web.StreamResponse:
        if request.method == "GET":
            items = self.store.list_objects(
                resource, parsed.namespace, self._matcher(request.params)
            )
            return aiohttp.web.json_response(self._list_body(resource, items))
        if request.method == "POST":
            created = self.store.create(resource, parsed.namespace, _object_body(request))
            return aiohttp.web.json_response(created, status=201)
        if request.method == "DELETE":
            items = self.store.list_objects(
                resource, parsed.namespace, self._matcher(request.params)
            )
            for item in items:
                meta = item["metadata"]
                self.store.delete(resource, meta.get("namespace"), meta["name"])
            return aiohttp.web.json_response(self._list_body(resource, items))
        raise _method_not_allowed(request)

    def _item(
        self, request: rendering.Request, resource: ResourceType, parsed: ApiPath
    ) -> aiohttp.web.StreamResponse:
        namespace, name, subresource = parsed.namespace, str(parsed.name), parsed.subresource
        if subresource not in (None, *resource.subresources):
            raise KubeError(
                404, "NotFound", f"{resource.plural} has no subresource {subresource!r}"
            )
        if subresource == "scale":
            return self._scale(request, resource, parsed)
        if request.method == "GET":
            return aiohttp.web.json_response(self.store.get(resource, namespace, name))
        if request.method == "PUT":
            body = _object_body(request)
            updated = self.store.replace(resource, namespace, name, body, subresource)
            return aiohttp.web.json_response(updated)
        if request.method == "PATCH":
            content_type = request.headers.get("Content-Type", "")
            patched = self.store.patch(
                resource, namespace, name, request.data, content_type, subresource
            )
            return aiohttp.web.json_response(patched)
        if request.method == "DELETE" and subresource is None:
            options = request.data if isinstance(request.data, Mapping) else {}
            obj, gone = self.store.delete(resource, namespace, name, options.get("preconditions"))
            if not gone:
                return aiohttp.web.json_response(obj)
            return aiohttp.web.json_response(_deleted_status(resource, obj))
        raise _method_not_allowed(request)

    def _scale(
        self, request: rendering.Request, resource: ResourceType, parsed: ApiPath
    ) -> aiohttp.web.StreamResponse:
        namespace, name = parsed.namespace, str(parsed.name)
        current = self.store.get_scale(resource, namespace, name)
        if request.method == "GET":
            return aiohttp.web.json_response(current)
        if request.method == "PUT":
            scale = _object_body(request)
        elif request.method == "PATCH":
            content_type = request.headers.get("Content-Type", "")
            scale = apply_patch(current, request.data, content_type)
        else:
            raise _method_not_allowed(request)
        return aiohttp.web.json_response(self.store.set_scale(resource, namespace, name, scale))

    def _list_body(self, resource: ResourceType, items: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": resource.api_version,
            "kind": f"{resource.kind}List",
            "metadata": {"resourceVersion": str(self.store.revision)},
            "items": items,
        }

    @staticmethod
    def _matcher(params: Mapping[str, str]) -> Any:
        labels = parse_label_selector(params.get("labelSelector"))
        fields = parse_field_selector(params.get("fieldSelector"))
        return lambda obj: labels(obj) and fields(obj)

    # Watch.

    async def _watch(
        self, request: rendering.Request, resource: ResourceType, parsed: ApiPath
    ) -> aiohttp.web.StreamResponse:
        matches = self._matcher(request.params)
        if parsed.name is not None:  # a watch of one object, as in .../configmaps/NAME?watch=1
            by_name = parse_field_selector(f"metadata.name={parsed.name}")
            matches = (lambda base: lambda obj: base(obj) and by_name(obj))(matches)
        deadline = _watch_deadline(request.params.get("timeoutSeconds"))
        start = request.params.get("resourceVersion") or "0"
        if not start.isdigit():
            raise KubeError(400, "BadRequest", f"invalid resourceVersion: {start!r}")

        # The snapshot and its revision are taken with no await in between, so no change is lost.
        events: list[dict[str, Any]] = []
        position = int(start)
        if start == "0":
            snapshot = self.store.list_objects(resource, parsed.namespace, matches)
            events = [{"type": "ADDED", "object": obj} for obj in snapshot]
            position = self.store.revision

        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        assert request._raw_request is not None
        key = (resource.group, resource.plural)
        self.open_watches[key] += 1
        try:
            await response.prepare(request._raw_request)
            with contextlib.suppress(ConnectionError):  # the client went away
                await _write_events(response, events)
                await self._stream(
                    response, resource, parsed.namespace, matches, position, deadline
                )
                await response.write_eof()
        finally:
            self.open_watches[key] -= 1
        return response

    async def _stream(
        self,
        response: aiohttp.web.StreamResponse,
        resource: ResourceType,
        namespace: str | None,
        matches: Any,
        position: int,
        deadline: float | None,
    ) -> None:
        epoch = self._watch_epoch
        while epoch == self._watch_epoch:
            changed = self.store.changed
            try:
                changes = self.store.changes_since(position)
            except KubeError as error:
                await _write_events(response, [{"type": "ERROR", "object": error.status()}])
                return
            if changes:
                position = changes[-1].revision
                events = [_event(change, resource, namespace, matches) for change in changes]
                await _write_events(response, [event for event in events if event])
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)


def _event(
    change: Change, resource: ResourceType, namespace: str | None, matches: Any
) -> dict[str, Any] | None:
    """Translate a change into the event that one watch sees, or None if it sees nothing.

    An object that stops matching the selectors is DELETED for this watch, and one that
    starts matching is ADDED, as a real API server reports it.
    """
    if change.key[:2] != (resource.group, resource.plural):
        return None
    if namespace is not None and change.key[2] != namespace:
        return None
    now = change.type != "DELETED" and bool(matches(change.obj))
    before = change.previous is not None and bool(matches(change.previous))
    if now and before:
        kind = "MODIFIED"
    elif now:
        kind = "ADDED"
    elif before:
        kind = "DELETED"
    else:
        return None
    return {"type": kind, "object": ObjectStore.present(resource, change.obj)}


def _watch_deadline(timeout: str | None) -> float | None:
    if not timeout:
        return None
    try:
        return time.monotonic() + float(timeout)
    except ValueError:
        raise KubeError(400, "BadRequest", f"invalid timeoutSeconds: {timeout!r}") from None


async def _write_events(response: aiohttp.web.StreamResponse, events: list[dict[str, Any]]) -> None:
    if events:
        await response.write(b"".join(json.dumps(event).encode() + b"\n" for event in events))


def _object_body(request: rendering.Request) -> dict[str, Any]:
    if not isinstance(request.data, Mapping):
        raise KubeError(400, "BadRequest", "the request body must be a JSON object")
    return dict(request.data)


def _method_not_allowed(request: rendering.Request) -> KubeError:
    return KubeError(405, "MethodNotAllowed", f"the server does not allow {request.method} here")


def _deleted_status(resource: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    details = {
        "name": meta["name"],
        "group": resource.group,
        "kind": resource.plural,
        "uid": meta["uid"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Success",
        "details": details,
    }
