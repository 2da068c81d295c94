"""In-memory object store of the Kubernetes API stand-in.

Every write increments one cluster-wide revision, which becomes the object's
``metadata.resourceVersion`` and is kept in a bounded change history that watches replay.
Writes are synchronous and the store lives on one event loop, so a watch that reads
the current objects and the current revision together can never miss a change.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import random
import string
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tests.support import kube_resources
from tests.support.kube_patch import apply_patch
from tests.support.kube_resources import KubeError, ResourceType, apply_scale, build_scale

ObjectKey = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name
SERVER_MANAGED = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "generation",
    "name",
    "namespace",
)


@dataclasses.dataclass(frozen=True)
class Change:
    """One entry of the change history: the object after the change and before it."""

    revision: int
    type: str  # ADDED, MODIFIED or DELETED
    key: ObjectKey
    obj: dict[str, Any]
    previous: dict[str, Any] | None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


class ObjectStore:
    """Objects, resource types and change history of one stand-in API server."""

    def __init__(self, max_history: int = 10_000) -> None:
        self.revision = 0
        self.oldest_revision = 0  # a watch from an older revision gets 410 Gone
        self._max_history = max_history
        self._history: list[Change] = []
        self._objects: dict[ObjectKey, dict[str, Any]] = {}
        self._types = {(t.group, t.version, t.plural): t for t in kube_resources.BUILTIN_TYPES}
        self._crd_types: dict[str, list[ResourceType]] = {}
        self._changed = asyncio.Event()
        namespaces = self.lookup("", "v1", "namespaces")
        for name in ("default", "kube-system", "kube-public"):
            self.create(namespaces, None, {"metadata": {"name": name}})

    # Resource types.

    def types(self) -> list[ResourceType]:
        """Return every served resource type."""
        return list(self._types.values())

    def lookup(self, group: str, version: str, plural: str) -> ResourceType:
        """Return a served resource type or raise 404."""
        found = self._types.get((group, version, plural))
        if found is None:
            raise KubeError(404, "NotFound", "the server could not find the requested resource")
        return found

    def type_for(self, api_version: str, kind: str) -> ResourceType:
        """Return the resource type of an ``apiVersion`` and ``kind`` or raise 404."""
        for resource in self._types.values():
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        raise KubeError(404, "NotFound", f"no resource is served for {api_version} {kind}")

    # Reading.

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """Return a stored object (not a copy) or raise 404."""
        found = self._objects.get(self._key(resource, namespace, name))
        if found is None:
            raise resource.not_found(name)
        return self.present(resource, found)

    def list_objects(
        self,
        resource: ResourceType,
        namespace: str | None,
        matches: Callable[[Mapping[str, Any]], bool] = lambda obj: True,
    ) -> list[dict[str, Any]]:
        """Return matching objects sorted by namespace and name; no namespace means all."""
        return [
            self.present(resource, obj)
            for key, obj in sorted(self._objects.items())
            if key[:2] == (resource.group, resource.plural)
            if namespace is None or key[2] == namespace
            if matches(obj)
        ]

    @staticmethod
    def present(resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Return the object as served under the version of ``resource``."""
        if obj.get("apiVersion") == resource.api_version:
            return obj
        return dict(obj, apiVersion=resource.api_version)

    def changes_since(self, revision: int) -> list[Change]:
        """Return the changes after a revision, or raise 410 Gone if they were compacted."""
        if revision < self.oldest_revision:
            raise KubeError(
                410, "Expired", f"too old resource version: {revision} ({self.oldest_revision})"
            )
        start = len(self._history)
        while start > 0 and self._history[start - 1].revision > revision:
            start -= 1
        return self._history[start:]

    @property
    def changed(self) -> asyncio.Event:
        """An event that is set at the next change (take it before reading the history)."""
        return self._changed

    def compact(self) -> None:
        """Drop the whole change history so that every known revision gets 410 Gone."""
        self.revision += 1
        self.oldest_revision = self.revision
        self._history.clear()
        self.wake_watches()

    # Writing.

    def create(
        self, resource: ResourceType, namespace: str | None, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Store a new object; return it with its server-set metadata."""
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        namespace = self._namespace_for_create(resource, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta["generateName"] + suffix
        if not meta.get("name"):
            raise KubeError(422, "Invalid", "metadata.name or metadata.generateName is required")
        key = self._key(resource, namespace, meta["name"])
        if key in self._objects:
            raise KubeError(
                409,
                "AlreadyExists",
                f'{resource.plural} "{meta["name"]}" already exists',
                name=meta["name"],
                kind=resource.plural,
            )
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        meta.pop("deletionTimestamp", None)
        meta.pop("resourceVersion", None)
        if namespace:
            meta["namespace"] = namespace
        obj = {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
        obj.update(apiVersion=resource.api_version, kind=resource.kind)
        self._apply_defaults(resource, obj)
        return self._commit(resource, key, obj, None)

    def replace(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Replace an object (PUT), or only its status with ``subresource="status"``."""
        old = self.get(resource, namespace, name)
        return self._update(resource, old, copy.deepcopy(dict(body)), subresource)

    def patch(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Patch an object (PATCH), or only its status with ``subresource="status"``."""
        old = self.get(resource, namespace, name)
        return self._update(resource, old, apply_patch(old, patch, content_type), subresource)

    def delete(
        self,
        resource: ResourceType,
        namespace: str | None,
        name: str,
        preconditions: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Delete an object; return it and whether it is gone (False while finalizers remain)."""
        obj = self.get(resource, namespace, name)
        meta = obj["metadata"]
        for field in ("uid", "resourceVersion"):
            expected = (preconditions or {}).get(field)
            if expected and expected != meta.get(field):
                raise self._conflict(resource, name, f"precondition on {field} failed")
        if not meta.get("finalizers"):
            return self._remove(resource, self._key(resource, namespace, name)), True
        if meta.get("deletionTimestamp"):
            return obj, False
        marked = copy.deepcopy(obj)
        marked["metadata"].update(deletionTimestamp=_now(), deletionGracePeriodSeconds=0)
        return self._commit(resource, self._key(resource, namespace, name), marked, obj), False

    # Scale subresource.

    def get_scale(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """Build the ``autoscaling/v1`` Scale object of a scalable object."""
        return build_scale(resource, self.get(resource, namespace, name))

    def set_scale(
        self, resource: ResourceType, namespace: str | None, name: str, scale: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Write ``spec.replicas`` of a Scale object back to its object; return the new Scale."""
        old = self.get(resource, namespace, name)
        expected = scale.get("metadata", {}).get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise self._conflict(resource, name, "the object has been modified")
        updated = self._update(resource, old, apply_scale(resource, old, scale), None)
        return build_scale(resource, updated)

    # Internals.

    @staticmethod
    def _key(resource: ResourceType, namespace: str | None, name: str) -> ObjectKey:
        return (resource.group, resource.plural, (resource.namespaced and namespace) or "", name)

    @staticmethod
    def _conflict(resource: ResourceType, name: str, why: str) -> KubeError:
        return KubeError(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {resource.plural} "{name}": {why}; '
            "please apply your changes to the latest version and try again",
            name=name,
            kind=resource.plural,
        )

    def _namespace_for_create(
        self, resource: ResourceType, namespace: str | None, meta: dict[str, Any]
    ) -> str | None:
        if not resource.namespaced:
            meta.pop("namespace", None)
            return None
        if namespace and meta.get("namespace") and meta["namespace"] != namespace:
            raise KubeError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent "
                "on the request",
            )
        namespace = namespace or meta.get("namespace")
        if not namespace:
            raise KubeError(
                400, "BadRequest", f"a namespace is required to create {resource.plural}"
            )
        if ("", "namespaces", "", namespace) not in self._objects:
            raise KubeError(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace)
        return str(namespace)

    def _apply_defaults(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        if resource.group == "" and resource.plural == "pods":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        elif resource.group == "" and resource.plural == "namespaces":
            obj.setdefault("status", {}).setdefault("phase", "Active")
        elif resource.group == kube_resources.CRD_GROUP:
            self._register_crd(obj)

    def _update(
        self,
        resource: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        subresource: str | None,
    ) -> dict[str, Any]:
        new = copy.deepcopy(new)  # the stored versions in the history must never change
        name = old["metadata"]["name"]
        expected = (new.get("metadata") or {}).get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise self._conflict(resource, name, "the object has been modified")
        if subresource == "status":
            new = dict(copy.deepcopy(old), status=new.get("status"))
        elif "status" in resource.subresources:
            new = {**new, "status": copy.deepcopy(old.get("status"))}
        new = {key: value for key, value in new.items() if value is not None}
        meta = new.setdefault("metadata", {})
        for field in SERVER_MANAGED:
            meta.pop(field, None)
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        new.update(apiVersion=old["apiVersion"], kind=resource.kind)
        if _body(new) != _body(old):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        if resource.group == kube_resources.CRD_GROUP:
            self._register_crd(new)
        if new == old:
            return old  # a no-op write keeps the resourceVersion and sends no watch event
        key = self._key(resource, meta.get("namespace"), name)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._commit(resource, key, new, old)
            return self._remove(resource, key)
        return self._commit(resource, key, new, old)

    def _commit(
        self,
        resource: ResourceType,
        key: ObjectKey,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> dict[str, Any]:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self._objects[key] = obj
        self._record(Change(self.revision, "ADDED" if old is None else "MODIFIED", key, obj, old))
        return obj

    def _remove(self, resource: ResourceType, key: ObjectKey) -> dict[str, Any]:
        old = self._objects.pop(key)
        self.revision += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self.revision)
        self._record(Change(self.revision, "DELETED", key, gone, old))
        self._cascade(resource, gone)
        return gone

    def _record(self, change: Change) -> None:
        self._history.append(change)
        if len(self._history) > self._max_history:
            dropped = self._history[: len(self._history) - self._max_history]
            del self._history[: len(dropped)]
            self.oldest_revision = dropped[-1].revision
        self.wake_watches()

    def wake_watches(self) -> None:
        """Wake every watch that waits for a change, so that it checks the history again."""
        self._changed.set()
        self._changed = asyncio.Event()

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec", {})
        name = crd["metadata"]["name"]
        try:
            types = kube_resources.crd_resource_types(crd)
        except KeyError as error:
            raise KubeError(422, "Invalid", f"the CRD {name!r} misses the field {error}") from error
        expected = f"{spec.get('names', {}).get('plural')}.{spec.get('group')}"
        if name != expected:
            raise KubeError(422, "Invalid", f"the CRD name must be {expected!r}, not {name!r}")
        self._unregister_crd(name)
        self._crd_types[name] = types
        self._types.update({(t.group, t.version, t.plural): t for t in types})
        crd["status"] = kube_resources.crd_status(crd)

    def _unregister_crd(self, name: str) -> None:
        for resource in self._crd_types.pop(name, []):
            self._types.pop((resource.group, resource.version, resource.plural), None)

    def _cascade(self, resource: ResourceType, gone: dict[str, Any]) -> None:
        """Delete what depended on a removed object: CRs of a CRD, a namespace's objects,
        and objects whose owner references all point at removed objects."""
        meta = gone["metadata"]
        if resource.group == kube_resources.CRD_GROUP:
            types = self._crd_types.get(meta["name"], [])
            self._unregister_crd(meta["name"])
            for key in [
                k for k in self._objects if types and k[:2] == (types[0].group, types[0].plural)
            ]:
                self._remove(types[0], key)
        namespace = meta["name"] if resource.plural == "namespaces" and not resource.group else None
        live_uids = {obj["metadata"]["uid"] for obj in self._objects.values()}
        for key, obj in list(self._objects.items()):
            owners = [ref.get("uid") for ref in obj["metadata"].get("ownerReferences") or []]
            orphaned = meta["uid"] in owners and not live_uids.intersection(owners)
            if (namespace is not None and key[2] == namespace) or orphaned:
                owned_type = self.type_for(obj["apiVersion"], obj["kind"])
                if key in self._objects:
                    self.delete(owned_type, key[2] or None, key[3])
