"""Rules every membership source follows when it hands rings to a sink.

A source that follows the Kubernetes API or a file sees the same ring many
times (after a re-list, a reconnect, a poll) and sometimes sees an older one
(a restored backup, a lagging cache). `RingPublisher` submits a ring only when
its version is newer than the one in use, reports a failing source to the sink
once per outage so the ring is marked stale, and clears the stale mark when
the source confirms the ring in use again.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from statsd_proxy.ringdoc import RingDocument
from statsd_proxy.sources import RingSink

log = structlog.get_logger("statsd_proxy.sources")


class RingPublisher:
    """Submits rings in version order and tracks whether the source is failing."""

    def __init__(self, sink: RingSink, source: str) -> None:
        self._sink = sink
        self._source = source
        self._document: RingDocument | None = None
        self._failure: str | None = None

    @property
    def document(self) -> RingDocument | None:
        """The last ring submitted to the sink, or ``None`` before the first."""
        return self._document

    @property
    def failing(self) -> bool:
        """Whether the source failed since the ring in use was last confirmed."""
        return self._failure is not None

    async def offer(self, document: RingDocument, ready: Mapping[str, bool] | None = None) -> bool:
        """Submit ``document`` if its version is newer than the ring in use.

        A document equal to the ring in use confirms it: after a failure it is
        submitted again so the sink clears its stale mark. A different document
        with a version that is not newer is ignored and logged. ``ready`` gives
        each member's readiness; by default every member of ``document`` is
        ready. Returns whether the document was submitted as a new ring.
        """
        current = self._document
        if current is not None and document.version <= current.version:
            if document == current:
                await self.confirm()
            else:
                log.warning(
                    "ring_ignored",
                    source=self._source,
                    reason="version is not newer than the ring in use",
                    rejected_version=document.version,
                    version=current.version,
                )
            return False
        try:
            await self._sink.submit(document)
        except OSError as error:
            # Opening a member's socket can fail (for example EACCES for a
            # broadcast address); the ring in use stays.
            self.fail("apply", f"cannot apply ring version {document.version}: {error}")
            return False
        self._document = document
        self._failure = None
        self.publish_readiness(ready if ready is not None else _all_ready(document))
        return True

    async def confirm(self) -> None:
        """Record that the source delivers the ring in use again, clearing a stale mark."""
        if self._failure is None or self._document is None:
            return
        log.info("source_recovered", source=self._source, version=self._document.version)
        self._failure = None
        await self._sink.submit(self._document)

    def fail(self, kind: str, reason: str) -> None:
        """Count a discovery error of ``kind`` and keep the ring in use.

        The sink hears of the failure once per outage, when the source goes from
        working to failing; every call is counted and logged.
        """
        self._sink.stats.count_discovery_error(kind)
        log.warning("source_failed", source=self._source, kind=kind, reason=reason)
        if self._failure is None:
            self._sink.report_source_failure(f"{self._source}: {reason}")
        self._failure = kind

    def count_problem(self, kind: str, reason: str) -> None:
        """Count and log a discovery error that leaves the source usable, such as one bad entry."""
        self._sink.stats.count_discovery_error(kind)
        log.warning("source_problem", source=self._source, kind=kind, reason=reason)

    def publish_readiness(self, ready: Mapping[str, bool]) -> None:
        """Replace the sink's per-member readiness with ``ready``."""
        member_ready = self._sink.stats.member_ready
        for name in [name for name in member_ready if name not in ready]:
            del member_ready[name]
        member_ready.update(ready)


def _all_ready(document: RingDocument) -> dict[str, bool]:
    return {member.name: True for member in document.members}
