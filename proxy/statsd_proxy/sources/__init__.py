"""Membership sources: where a proxy learns its ring."""

from __future__ import annotations

from typing import Protocol

from statsd_proxy.config import ProxyConfig
from statsd_proxy.ringdoc import RingDocument
from statsd_proxy.stats import ProxyStats


class RingSink(Protocol):
    """The receiver of a source's rings: a `RingManager`, or the supervisor of workers."""

    @property
    def stats(self) -> ProxyStats:
        """Counters for discovery errors and member readiness."""

    async def submit(self, document: RingDocument) -> None:
        """Switch to ``document`` now or at its ``effectiveAt``."""

    def report_source_failure(self, reason: str) -> None:
        """Record that the source failed; routing goes on with the last good ring."""


class RingSource(Protocol):
    """Follows one membership source and submits every new ring to a sink."""

    async def run(self, sink: RingSink) -> None:
        """Follow the source until cancelled; never return while the source can recover."""


def make_source(config: ProxyConfig) -> RingSource:
    """Build the membership source that ``config`` selects."""
    kind = config.source_kind
    if kind == "configmap" and config.ring_configmap:
        from statsd_proxy.sources.configmap import ConfigMapSource

        return ConfigMapSource(config.ring_configmap)
    if kind == "file" and config.ring_file:
        from statsd_proxy.sources.ringfile import RingFileSource

        return RingFileSource(config.ring_file)
    if kind == "endpoints" and config.ring_endpoints:
        from statsd_proxy.sources.endpoints import EndpointsSource

        return EndpointsSource(
            config.ring_endpoints,
            port_name=config.endpoint_port_name,
            unready_policy=config.unready_policy,
        )
    from statsd_proxy.sources.static import StaticSource

    return StaticSource(config.backends)
