"""The ring ConfigMap source: follow ``ring.json`` through the Kubernetes API.

The operator writes the ring into one ConfigMap under the key ``ring.json``.
This source lists and watches that ConfigMap alone (a ``metadata.name``
field selector, which RBAC can restrict with ``resourceNames``) and submits
every valid ring whose version is newer than the ring in use. A deleted
ConfigMap, an invalid ``ring.json`` or an unreachable API server never
empties the ring: the proxy keeps routing with the ring it has, marks it
stale and counts a discovery error, by kind:

- ``api``: a request failed or the watch was lost (retried with backoff);
- ``config``: no in-cluster service account and no usable kubeconfig;
- ``missing``: the ConfigMap, or its ``ring.json`` key, does not exist;
- ``invalid``: ``ring.json`` failed validation (the error names the field).
"""

from __future__ import annotations

from typing import Any

import structlog
from kubernetes_asyncio import client

from statsd_proxy.ringdoc import RingFormatError, parse_ring
from statsd_proxy.sources import RingSink
from statsd_proxy.sources.kubewatch import Backoff, ListWatch, Objects, load_client_configuration
from statsd_proxy.sources.publish import RingPublisher

log = structlog.get_logger("statsd_proxy.sources")

RING_KEY = "ring.json"


class ConfigMapSource:
    """Follows the ring ConfigMap ``namespace/name`` through the Kubernetes API."""

    def __init__(self, reference: str, *, backoff: Backoff | None = None) -> None:
        self.namespace, _, self.name = reference.partition("/")
        self._backoff = backoff or Backoff()
        self._publisher: RingPublisher | None = None
        # The resourceVersion of the ConfigMap last evaluated, so a repeated
        # state is not counted again; "" before the first, None when absent.
        self._seen: str | None = ""
        self._usable = False

    async def run(self, sink: RingSink) -> None:
        """Follow the ConfigMap until cancelled."""
        publisher = self._publisher = RingPublisher(sink, f"configmap {self.namespace}/{self.name}")
        configuration = await load_client_configuration(publisher, self._backoff)
        async with client.ApiClient(configuration) as api:
            watch = ListWatch(
                client.CoreV1Api(api).list_namespaced_config_map,
                self.namespace,
                selectors={"field_selector": f"metadata.name={self.name}"},
                on_change=self._changed,
                on_failure=lambda reason: publisher.fail("api", reason),
                backoff=self._backoff,
            )
            log.info("configmap_watch_started", namespace=self.namespace, name=self.name)
            await watch.run()

    async def _changed(self, objects: Objects) -> None:
        publisher = self._publisher
        assert publisher is not None
        configmap = objects.get(self.name)
        version = _resource_version(configmap)
        if version == self._seen:
            # Nothing changed since the last evaluation; a reconnect confirms the ring.
            if self._usable:
                await publisher.confirm()
            return
        self._seen = version
        self._usable = False
        if configmap is None:
            publisher.fail("missing", f"ConfigMap {self.namespace}/{self.name} does not exist")
            return
        text = (configmap.get("data") or {}).get(RING_KEY)
        if not isinstance(text, str):
            publisher.fail("missing", f"ConfigMap has no key {RING_KEY!r}")
            return
        try:
            document = parse_ring(text)
        except RingFormatError as error:
            publisher.fail("invalid", f"invalid {RING_KEY}: {error}")
            return
        await publisher.offer(document)
        self._usable = publisher.document == document


def _resource_version(configmap: dict[str, Any] | None) -> str | None:
    if configmap is None:
        return None
    return str((configmap.get("metadata") or {}).get("resourceVersion"))
