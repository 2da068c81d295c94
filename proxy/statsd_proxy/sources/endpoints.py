"""The EndpointSlice source: the ring is the endpoints of a headless Service.

For clusters without the operator. The source lists and watches every
``discovery.k8s.io/v1`` EndpointSlice labelled
``kubernetes.io/service-name=SERVICE`` and merges them into one ring:

- a member is named after its pod (``targetRef.name``), else the endpoint's
  ``hostname``, so a pod that restarts with a new IP keeps its place on the
  ring and no series moves;
- its address is the endpoint's first address, and its port is the slice's
  port named ``--endpoint-port-name``;
- a terminating endpoint leaves the ring under both policies;
- a not-ready endpoint stays in the ring under ``hold`` (it keeps its series,
  and sends to it fail and are counted) and is left out under ``failover``
  until it is ready again. Either way ``member_ready`` reports it.

Membership follows from the slices alone, never from history, so every
replica that sees the same slices builds the same ring. The source numbers
its rings itself, starting at 1 and adding 1 whenever a member or an address
changes. An empty result keeps the ring in use and marks it stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes_asyncio import client

from statsd_proxy.ringdoc import Member, RingDocument, RingFormatError, validate_member_name
from statsd_proxy.sources import RingSink
from statsd_proxy.sources.kubewatch import Backoff, ListWatch, Objects, load_client_configuration
from statsd_proxy.sources.publish import RingPublisher

log = structlog.get_logger("statsd_proxy.sources")

SERVICE_LABEL = "kubernetes.io/service-name"


@dataclass(slots=True)
class EndpointView:
    """The ring members that a set of EndpointSlices gives, with readiness and problems."""

    members: tuple[Member, ...]
    ready: dict[str, bool]
    problems: list[str] = field(default_factory=list)


def endpoint_view(slices: Iterable[Mapping[str, Any]], port_name: str, policy: str) -> EndpointView:
    """Merge EndpointSlices into ring members under an unready ``policy``.

    An endpoint that appears in several slices counts once; a ready copy wins
    over a not-ready one, then the lower address. Entries that cannot become
    members (no name, no matching port) are skipped and described in
    ``problems``.
    """
    found: dict[str, tuple[bool, Member]] = {}
    problems: list[str] = []
    for slice_ in sorted(slices, key=_slice_name):
        port = _port_named(slice_, port_name)
        if port is None:
            problems.append(f"EndpointSlice {_slice_name(slice_)} has no port named {port_name!r}")
            continue
        for endpoint in slice_.get("endpoints") or []:
            candidate = _member_of(endpoint, port, _slice_name(slice_), problems)
            if candidate is None:
                continue
            ready, member = candidate
            current = found.get(member.name)
            if current is None or (ready, member.host) > (current[0], current[1].host):
                found[member.name] = candidate
    ready_by_name = {name: ready for name, (ready, _) in found.items()}
    members = tuple(
        member for name, (ready, member) in sorted(found.items()) if ready or policy == "hold"
    )
    return EndpointView(members=members, ready=ready_by_name, problems=problems)


def _member_of(
    endpoint: Mapping[str, Any], port: int, slice_name: str, problems: list[str]
) -> tuple[bool, Member] | None:
    """Return (ready, member) for one endpoint, or None if it is not a member."""
    conditions = endpoint.get("conditions") or {}
    addresses = endpoint.get("addresses") or []
    if conditions.get("terminating") is True or not addresses:
        return None
    name = (endpoint.get("targetRef") or {}).get("name") or endpoint.get("hostname")
    try:
        validate_member_name(name, "name")
    except RingFormatError:
        problems.append(
            f"EndpointSlice {slice_name}: endpoint {addresses[0]} has no usable pod name or "
            f"hostname (got {name!r}), so it is left out of the ring"
        )
        return None
    # The API documents an unknown (null) ready condition as one to treat as ready.
    ready = conditions.get("ready") is not False
    return ready, Member(name=str(name), host=str(addresses[0]), port=port)


def _port_named(slice_: Mapping[str, Any], port_name: str) -> int | None:
    for port in slice_.get("ports") or []:
        number = port.get("port")
        if (port.get("name") or "") == port_name and isinstance(number, int):
            return number
    return None


def _slice_name(slice_: Mapping[str, Any]) -> str:
    return str((slice_.get("metadata") or {}).get("name", ""))


class EndpointsSource:
    """Follows the EndpointSlices of the Service ``namespace/service``."""

    def __init__(
        self,
        reference: str,
        *,
        port_name: str = "statsd",
        unready_policy: str = "hold",
        backoff: Backoff | None = None,
    ) -> None:
        self.namespace, _, self.service = reference.partition("/")
        self.port_name = port_name
        self.unready_policy = unready_policy
        self._backoff = backoff or Backoff()
        self._publisher: RingPublisher | None = None
        self._version = 0
        self._members: tuple[Member, ...] = ()
        self._empty = False
        self._problems: set[str] = set()

    async def run(self, sink: RingSink) -> None:
        """Follow the Service's EndpointSlices until cancelled."""
        name = f"endpoints {self.namespace}/{self.service}"
        publisher = self._publisher = RingPublisher(sink, name)
        configuration = await load_client_configuration(publisher, self._backoff)
        async with client.ApiClient(configuration) as api:
            watch = ListWatch(
                client.DiscoveryV1Api(api).list_namespaced_endpoint_slice,
                self.namespace,
                selectors={"label_selector": f"{SERVICE_LABEL}={self.service}"},
                on_change=self._changed,
                on_failure=lambda reason: publisher.fail("api", reason),
                backoff=self._backoff,
            )
            log.info(
                "endpoints_watch_started",
                namespace=self.namespace,
                service=self.service,
                port_name=self.port_name,
                unready_policy=self.unready_policy,
            )
            await watch.run()

    async def _changed(self, slices: Objects) -> None:
        publisher = self._publisher
        assert publisher is not None
        view = endpoint_view(slices.values(), self.port_name, self.unready_policy)
        self._count_new_problems(publisher, view.problems)
        if not view.members:
            if not self._empty:
                self._empty = True
                publisher.fail("empty", f"Service {self.service} has no usable endpoints")
            publisher.publish_readiness(view.ready)
            return
        self._empty = False
        if view.members == self._members:
            publisher.publish_readiness(view.ready)
            await publisher.confirm()
            return
        self._version += 1
        self._members = view.members
        await publisher.offer(RingDocument(self._version, view.members), view.ready)

    def _count_new_problems(self, publisher: RingPublisher, problems: list[str]) -> None:
        """Count each problem once while it lasts, not on every event."""
        current = set(problems)
        for problem in problems:
            if problem not in self._problems:
                publisher.count_problem("invalid", problem)
        self._problems = current
