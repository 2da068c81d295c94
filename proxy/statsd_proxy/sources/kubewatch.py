"""List and watch Kubernetes objects with kubernetes_asyncio, resuming after failures.

`ListWatch` keeps a cache of the objects that match one list call (a
namespace plus label and field selectors) the way a client-go reflector does:
it lists once, then watches from the list's ``resourceVersion``. After a
dropped connection or a failed request it waits with capped, jittered
exponential backoff and resumes the watch from the last ``resourceVersion``
it saw. After ``410 Gone`` (the server has dropped its history back to that
version) it lists again. Every change of the cache is handed to a callback.

The requests go through the typed kubernetes_asyncio API functions with
``_preload_content=False`` and the responses are read as plain JSON: that
checks every HTTP status (the library's ``Watch`` helper ends quietly on an
error answer without a JSON body), skips building model objects, and allows
watch events larger than aiohttp's line limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import structlog
from kubernetes_asyncio import client, config

from statsd_proxy.sources.publish import RingPublisher

log = structlog.get_logger("statsd_proxy.sources")

# A watch event line carries one object. The Kubernetes documentation limits
# a ConfigMap's data to 1 MiB and etcd's default request limit is 1.5 MiB, so
# a longer line is treated as a broken stream.
MAX_EVENT_BYTES = 4 * 1024 * 1024
WATCH_SECONDS = 300
CONNECT_SECONDS = 10.0
# Time added to the server-side watch timeout before the client gives up on
# a silent connection.
READ_MARGIN_SECONDS = 30.0
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

Objects = Mapping[str, dict[str, Any]]
ListFunction = Callable[..., Awaitable[Any]]


class ApiError(Exception):
    """A Kubernetes API request that returned an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class WatchExpiredError(Exception):
    """The watched ``resourceVersion`` is older than the server's history (410 Gone)."""


# A failed request, a dropped connection, or a response that is not the
# JSON the API documents (a ValueError from decoding, a KeyError or
# TypeError from a missing or mistyped field).
_REQUEST_ERRORS = (ApiError, aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError)


class Backoff:
    """Capped exponential delays with jitter, so many proxies do not retry in step."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._attempts = 0

    def next_delay(self) -> float:
        """Return the delay before the next attempt: half to all of the capped delay."""
        ceiling = min(self.maximum, self.initial * self.factor**self._attempts)
        self._attempts = min(self._attempts + 1, 64)
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Start again from the initial delay after a success."""
        self._attempts = 0


async def load_client_configuration(publisher: RingPublisher, backoff: Backoff) -> Any:
    """Load the in-cluster service account when running in a pod, else the kubeconfig.

    The kubeconfig comes from ``KUBECONFIG`` or ``~/.kube/config``. Failures
    are counted as ``config`` discovery errors and retried with ``backoff``,
    because a service account token can be mounted after the process starts.
    Returns a ``kubernetes_asyncio.client.Configuration``.
    """
    while True:
        configuration = client.Configuration()
        try:
            if _in_cluster():
                # kubernetes_asyncio 36 leaves this function without annotations.
                config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                await config.load_kube_config(client_configuration=configuration)
        except (config.ConfigException, OSError) as error:
            reason = f"cannot load the Kubernetes client configuration: {error}"
            publisher.fail("config", reason)
            await asyncio.sleep(backoff.next_delay())
            continue
        return configuration


class ListWatch:
    """Follows the objects one list call returns, calling ``on_change`` with the cache.

    ``on_change`` runs after the list, after every watch event, and after a
    watch reconnects following a failure (so a caller can confirm its state).
    ``on_failure`` runs with a reason for every failed request or lost watch.
    """

    def __init__(
        self,
        list_function: ListFunction,
        namespace: str,
        *,
        on_change: Callable[[Objects], Awaitable[None]],
        on_failure: Callable[[str], None],
        selectors: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
        watch_seconds: int = WATCH_SECONDS,
    ) -> None:
        self._list = list_function
        self._namespace = namespace
        self._on_change = on_change
        self._on_failure = on_failure
        self._selectors = dict(selectors or {})
        self._backoff = backoff or Backoff()
        self._watch_seconds = watch_seconds
        self._objects: dict[str, dict[str, Any]] = {}
        self._version: str | None = None

    async def run(self) -> None:
        """List and watch until cancelled."""
        failed = False
        while True:
            try:
                if self._version is None:
                    await self._relist()
                await self._watch(resumed=failed)
                failed = False
                self._backoff.reset()
            except WatchExpiredError:
                log.info("watch_expired", namespace=self._namespace, version=self._version)
                self._version = None
                await asyncio.sleep(self._backoff.next_delay())
            except _REQUEST_ERRORS as error:
                failed = True
                self._on_failure(_describe(error))
                await asyncio.sleep(self._backoff.next_delay())

    async def _relist(self) -> None:
        response = await self._list(
            self._namespace,
            **self._selectors,
            _preload_content=False,
            _request_timeout=(CONNECT_SECONDS, CONNECT_SECONDS * 3),
        )
        try:
            body = await _read_json(response)
        finally:
            response.release()
        items = body.get("items") or []
        self._objects = {item["metadata"]["name"]: item for item in items}
        version = str(body["metadata"]["resourceVersion"])
        await self._on_change(self._objects)
        self._version = version

    async def _watch(self, *, resumed: bool) -> None:
        """Watch from the last version seen until the stream ends."""
        # Spread the watch timeouts, so proxies started together do not reconnect together.
        seconds = random.randint(self._watch_seconds, self._watch_seconds * 6 // 5)
        response = await self._list(
            self._namespace,
            **self._selectors,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=self._version,
            timeout_seconds=seconds,
            _preload_content=False,
            _request_timeout=(CONNECT_SECONDS, seconds + READ_MARGIN_SECONDS),
        )
        try:
            await _check_status(response)
            if resumed:
                log.info("watch_resumed", namespace=self._namespace, version=self._version)
                await self._on_change(self._objects)
            async for event in _events(response.content):
                await self._apply(event)
        finally:
            response.release()

    async def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            raise _event_error(obj)
        metadata = obj.get("metadata") or {}
        version = metadata.get("resourceVersion")
        if kind == "ADDED" or kind == "MODIFIED":
            self._objects[metadata["name"]] = obj
        elif kind == "DELETED":
            self._objects.pop(str(metadata.get("name")), None)
        if version:
            self._version = str(version)
        if kind == "BOOKMARK":
            return  # only the version moves
        self._backoff.reset()
        await self._on_change(self._objects)


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(SERVICE_ACCOUNT_TOKEN)


async def _check_status(response: Any) -> None:
    if response.status == 200:
        return
    message = _status_message(await response.read())
    if response.status == 410:
        raise WatchExpiredError(message)
    raise ApiError(response.status, message)


async def _read_json(response: Any) -> dict[str, Any]:
    await _check_status(response)
    body = json.loads(await response.read())
    if not isinstance(body, dict):
        raise ValueError(f"the API returned {type(body).__name__}, expected a list object")
    return body


async def _events(content: aiohttp.StreamReader) -> AsyncIterator[dict[str, Any]]:
    """Yield the JSON events of a watch stream, one per line."""
    buffer = bytearray()
    async for chunk in content.iter_any():
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if line.strip():
                yield json.loads(line)
        if len(buffer) > MAX_EVENT_BYTES:
            raise ValueError(f"a watch event is longer than {MAX_EVENT_BYTES} bytes")
    if buffer.strip():
        yield json.loads(buffer)


def _event_error(status: Mapping[str, Any]) -> Exception:
    code = status.get("code")
    message = str(status.get("message") or status.get("reason") or "unknown error")
    if code == 410:
        return WatchExpiredError(message)
    return ApiError(code if isinstance(code, int) else 500, message)


def _status_message(body: bytes) -> str:
    """Return the message of a Kubernetes Status body, or the start of the body."""
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return body[:200].decode("utf-8", "replace") or "no response body"


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"
