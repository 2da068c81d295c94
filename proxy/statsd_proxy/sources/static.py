"""The static membership source: the ``--backend`` list given on the command line."""

from __future__ import annotations

from collections.abc import Sequence

from statsd_proxy.ringdoc import Member, RingDocument
from statsd_proxy.sources import RingSink


class StaticSource:
    """Submits one ring built from the ``--backend`` flags."""

    def __init__(self, members: Sequence[Member]) -> None:
        self._members = tuple(members)

    async def run(self, sink: RingSink) -> None:
        """Submit the static ring once."""
        for member in self._members:
            sink.stats.member_ready[member.name] = True
        await sink.submit(RingDocument(version=1, members=self._members))
