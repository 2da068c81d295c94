"""A local Kubernetes API stand-in for tests, built on kmock 0.8.

Import the fixtures into a test folder's ``conftest.py``::

    from tests.support.kube_api import kube_api, kube_client

    __all__ = ["kube_api", "kube_client"]

Fixtures (function scope, one server per test):

- ``kube_api`` -> :class:`KubeApi`, serving on ``127.0.0.1`` at a free port. It is a plain
  (sync) fixture, usable from sync and async tests, because the server runs on its own event
  loop in its own thread. It writes ``tmp_path / "kubeconfig"`` (``kube_api.kubeconfig``),
  sets ``KUBECONFIG`` to it and points ``KUBE_CONFIG_DEFAULT_LOCATION`` of kubernetes_asyncio
  (and of kubernetes, if installed) at it, because both libraries read ``KUBECONFIG`` only
  once, at import. Pass ``KUBECONFIG=str(kube_api.kubeconfig)`` to subprocesses; a kopf
  operator in the test finds the server with ``kopf.login_with_kubeconfig``. At teardown the
  fixture fails the test if the stand-in itself failed (``kube_api.server_errors``).
- ``kube_client`` -> a ``kubernetes_asyncio.client.ApiClient`` for ``kube_api.url``.

Outside fixtures, ``with KubeApi() as api:`` starts and ends a server.

Server control (methods of :class:`KubeApi`):

- ``await stop()`` closes the port and every connection, which ends open watches.
  ``await start()`` serves again on the same port, with all objects and the change history
  kept. ``await restart(downtime=0.5)`` does both. Helpers keep working while it is stopped.
- ``compact()`` drops the change history. A watch from any earlier ``resourceVersion`` then
  gets an ``ERROR`` event with code 410 (Expired), open watches get it at once and end, and
  clients must re-list. kubernetes_asyncio's ``Watch`` retries a 410 once with the same
  version, then raises ``ApiException`` with status 410.
- ``close_watches()`` ends open watch streams cleanly; clients resume from their last version.
- ``open_watches("configmaps")`` counts open watches. ``await wait_for_watches("configmaps")``
  waits until a client watches; call it before a change that the client must see as an event.
- ``mock`` is the kmock handler. Reactions added to it take precedence over the stand-in:
  ``kube_api.mock["get /api/v1/namespaces/default/configmaps/ring"][:2] << 503`` answers the
  next two GETs of that path with 503. The path criterion ignores the query string, so it
  matches list and watch requests alike. Use static reactions only, because kmock runs in the
  server thread. ``kube_api.requests`` lists every request received (kmock request objects).

Object helpers are synchronous, need no client, and each write is one change that watches
see. ``resource`` is a plural (``"configmaps"``), ``plural.group`` (``"statefulsets.apps"``,
``"events.events.k8s.io"``) or ``group/version/plural``; a bare plural prefers the core group.
``namespace`` defaults to ``"default"`` and is ignored for cluster-scoped resources.

- ``create(obj)`` stores a manifest dict (builders are in ``tests.support.kube_objects``);
- ``get(resource, name, namespace)`` returns a copy, or None when absent;
- ``list_objects(resource, namespace=None, label_selector=None, field_selector=None)``;
- ``patch(resource, name, patch, namespace, subresource=None)``: a dict is a JSON merge patch,
  a list is a JSON patch, and ``subresource="status"`` writes the status;
- ``replace(obj, subresource=None)``; ``delete(resource, name, namespace)`` returns True when
  the object is gone, False while finalizers hold it (it then has ``deletionTimestamp``);
- ``set_pod_ready(name, namespace, ready=True, pod_ip=None)`` sets a Pod's status to Running
  with a Ready condition. Nothing else makes a Pod Ready.
- ``wait_until(predicate, message, seconds)`` (module function) polls with a deadline.

Served: core v1 namespaces, configmaps, secrets, pods, services, endpoints, events and
serviceaccounts; apps/v1 statefulsets and deployments with status and scale subresources;
discovery.k8s.io/v1 endpointslices; events.k8s.io/v1 events; coordination.k8s.io/v1 leases;
and CRDs, where a stored CRD becomes a served resource with its status and scale
subresources. Namespaces ``default``, ``kube-system`` and ``kube-public`` exist, and creating
in another namespace needs the Namespace first (404 otherwise, as in a cluster). As in a
cluster, a write to the main resource leaves the status unchanged when the resource has a
status subresource (Pods, StatefulSets, CRDs that declare it): write status through
``.../status``. ``metadata.generation`` grows when anything outside metadata and status
changes. Deleting an object deletes the objects whose owner references all point at deleted
objects, at once (a cluster does it in the background).

Not served: server-side apply, strategic-merge list semantics (lists are replaced whole),
protobuf, ``/openapi``, admission and schema validation, paging (``limit`` is ignored and
the whole list is returned) and watch bookmarks.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import pathlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from kmock._internal import rendering  # kmock 0.8 exports no public name for its parsed request

from tests.support.kube_patch import JSON_PATCH, MERGE_PATCH
from tests.support.kube_resources import KubeError, ResourceType
from tests.support.kube_select import parse_field_selector, parse_label_selector
from tests.support.kube_server import ServerThread

T = TypeVar("T")


class KubeApi:
    """A Kubernetes API stand-in on ``127.0.0.1`` that keeps its objects across restarts.

    Use it as a context manager (``with KubeApi() as api:``), or through the ``kube_api``
    fixture. The server runs in its own thread, so sync and async tests can both use it.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ServerThread(host, port)
        self.store = self._server.store  # touch it only through self.run()
        self.mock = self._server.handler
        self.kubeconfig: pathlib.Path | None = None

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.port}"

    @property
    def serving(self) -> bool:
        return self._server.serving

    @property
    def requests(self) -> list[rendering.Request]:
        """Every request received so far, oldest first (kmock request objects)."""
        return self.run(lambda: list(self.mock))

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of unexpected failures inside the stand-in, each returned as a 500."""
        return list(self.mock.server_errors)

    def __enter__(self) -> KubeApi:
        self._server.start_thread()
        self._server.run_coroutine(self._server.serve())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop_thread()

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function(*args)`` in the server thread, as every store access must be."""
        return self._server.run(function, *args)

    async def stop(self) -> None:
        """Close the port and every open connection, ending all watches; objects are kept."""
        await self._server.await_coroutine(self._server.unserve())

    async def start(self) -> None:
        """Serve again on the same port after :meth:`stop`."""
        await self._server.await_coroutine(self._server.serve())

    async def restart(self, downtime: float = 0.0) -> None:
        """Stop, stay down for ``downtime`` seconds, and start again on the same port."""
        await self.stop()
        await asyncio.sleep(downtime)
        await self.start()

    def compact(self) -> None:
        """Drop the change history, so every earlier resourceVersion gets 410 Gone."""
        self.run(self.store.compact)

    def close_watches(self) -> None:
        """End every open watch stream cleanly."""
        self.run(self._server.routes.close_watches)

    def open_watches(self, resource: str | None = None) -> int:
        """Count the open watch streams, of one resource or of all."""
        counts = self.run(lambda: dict(self._server.routes.open_watches))
        if resource is None:
            return sum(counts.values())
        found = self.resource(resource)
        return counts.get((found.group, found.plural), 0)

    async def wait_for_watches(self, resource: str, count: int = 1, seconds: float = 5.0) -> None:
        """Wait at most ``seconds`` until at least ``count`` watches of ``resource`` are open."""
        await wait_until(
            lambda: self.open_watches(resource) >= count,
            f"{count} watch(es) of {resource} to open",
            seconds,
        )

    def write_kubeconfig(self, path: pathlib.Path) -> pathlib.Path:
        """Write a kubeconfig that points at this server and return its path."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "stand-in", "user": {"token": "stand-in-token"}}],
            "contexts": [
                {
                    "name": "stand-in",
                    "context": {"cluster": "stand-in", "user": "stand-in", "namespace": "default"},
                }
            ],
            "current-context": "stand-in",
        }
        path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        self.kubeconfig = path
        return path

    # Object helpers.

    def resource(self, spec: str) -> ResourceType:
        """Resolve ``plural``, ``plural.group`` or ``group/version/plural`` to a resource type."""
        candidates = self.run(self.store.types)
        if "/" in spec:
            *group_parts, version, plural = spec.split("/")
            wanted = ("/".join(group_parts), version, plural)
            matches = [r for r in candidates if (r.group, r.version, r.plural) == wanted]
        else:
            plural, _, group = spec.partition(".")
            matches = [r for r in candidates if r.plural == plural and group in ("", r.group)]
            matches.sort(key=lambda r: r.group != "")  # a bare plural prefers the core group
        if not matches:
            raise KeyError(f"the stand-in serves no resource {spec!r}")
        return matches[0]

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an object from a manifest; return a copy of the stored object."""

        def create_in_store() -> dict[str, Any]:
            found = self.store.type_for(obj["apiVersion"], obj["kind"])
            namespace = obj.get("metadata", {}).get("namespace") or "default"
            return copy.deepcopy(self.store.create(found, namespace, obj))

        return self.run(create_in_store)

    def get(self, resource: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        """Return a copy of an object, or None if it does not exist."""
        found = self.resource(resource)

        def get_from_store() -> dict[str, Any] | None:
            try:
                return copy.deepcopy(self.store.get(found, namespace, name))
            except KubeError as error:
                if error.code == 404:
                    return None
                raise

        return self.run(get_from_store)

    def list_objects(
        self,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Return copies of the matching objects; no namespace means all namespaces."""
        found = self.resource(resource)
        labels = parse_label_selector(label_selector)
        fields = parse_field_selector(field_selector)
        items = self.run(
            self.store.list_objects, found, namespace, lambda obj: labels(obj) and fields(obj)
        )
        return copy.deepcopy(items)

    def patch(
        self,
        resource: str,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        namespace: str = "default",
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (a dict) or a JSON patch (a list); return the result."""
        content_type = JSON_PATCH if isinstance(patch, list) else MERGE_PATCH
        found = self.resource(resource)
        result = self.run(
            self.store.patch, found, namespace, name, patch, content_type, subresource
        )
        return copy.deepcopy(result)

    def replace(self, obj: dict[str, Any], subresource: str | None = None) -> dict[str, Any]:
        """Replace a stored object with a manifest (as PUT does); return the result."""

        def replace_in_store() -> dict[str, Any]:
            found = self.store.type_for(obj["apiVersion"], obj["kind"])
            namespace = obj["metadata"].get("namespace") or "default"
            name = obj["metadata"]["name"]
            return copy.deepcopy(self.store.replace(found, namespace, name, obj, subresource))

        return self.run(replace_in_store)

    def delete(self, resource: str, name: str, namespace: str = "default") -> bool:
        """Delete an object; return True if it is gone, False while finalizers hold it."""
        _, removed = self.run(self.store.delete, self.resource(resource), namespace, name)
        return removed

    def set_pod_ready(
        self, name: str, namespace: str = "default", ready: bool = True, pod_ip: str | None = None
    ) -> dict[str, Any]:
        """Mark a Pod Running with its Ready condition True (or False); return the Pod."""
        flag = "True" if ready else "False"
        status: dict[str, Any] = {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": flag},
                {"type": "ContainersReady", "status": flag},
            ],
        }
        if pod_ip:
            status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
        return self.patch("pods", name, {"status": status}, namespace, subresource="status")


async def wait_until(
    predicate: Callable[[], Any], message: str, seconds: float = 5.0, interval: float = 0.02
) -> Any:
    """Poll ``predicate`` until it returns a truthy value and return that value.

    Raises TimeoutError with ``message`` after ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {seconds} s: {message}")
        await asyncio.sleep(interval)
    return result


def use_kubeconfig(path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``KUBECONFIG`` and the Kubernetes client libraries' default path at a file."""
    monkeypatch.setenv("KUBECONFIG", str(path))
    for module_name in ("kubernetes_asyncio.config.kube_config", "kubernetes.config.kube_config"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        monkeypatch.setattr(module, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


@pytest.fixture
def kube_api(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeApi]:
    """A running stand-in with ``KUBECONFIG`` pointing at it (see the module docstring)."""
    with KubeApi() as api:
        use_kubeconfig(api.write_kubeconfig(tmp_path / "kubeconfig"), monkeypatch)
        yield api
    errors = "\n".join(api.server_errors)
    assert not api.server_errors, f"the Kubernetes API stand-in failed:\n{errors}"


@pytest_asyncio.fixture
async def kube_client(kube_api: KubeApi) -> AsyncIterator[Any]:
    """A kubernetes_asyncio ``ApiClient`` connected to the stand-in."""
    from kubernetes_asyncio import client

    configuration = client.Configuration(host=kube_api.url)
    async with client.ApiClient(configuration) as api_client:
        yield api_client


__all__ = ["KubeApi", "kube_api", "kube_client", "use_kubeconfig", "wait_until"]
