"""Checks of a live reshard: flushed counts per series, shard and flush window.

A flush window is named by the epoch boundary that closes it. Window ``w``
contains what a shard received between its flushes near ``w - interval`` and
near ``w``. The shards' ticks sit on those boundaries up to a measured offset,
and the proxy switches rings on them up to its timer's lag. So only an
increment sent within a small tolerance of a ring switch can land on either
side of it. The checks allow exactly those increments and nothing else.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence

from statsd_proxy.ringdoc import RingDocument

from tests.operator.live_graphite import Flush
from tests.operator.live_shards import nearest_boundary
from tests.operator.live_traffic import PacedSender

# Boundaries are whole seconds, so times within this many seconds are the same boundary.
SAME_MOMENT = 0.001

WindowCounts = dict[tuple[str, float], dict[str, float]]


@dataclasses.dataclass(frozen=True)
class Membership:
    """When a member joined and left the ring, as switch times (None: never)."""

    joined_at: float | None
    left_at: float | None


def window_counts(flushes: Iterable[Flush], interval: float, prefix: str) -> WindowCounts:
    """Return {(series, window): {shard: count}} for the non-zero counts of series under prefix."""
    counts: WindowCounts = defaultdict(lambda: defaultdict(float))
    for flush in flushes:
        window = nearest_boundary(flush.received_at, interval)
        for name, count in flush.counts.items():
            if name.startswith(prefix + ".") and count:
                counts[(name, window)][flush.shard] += count
    return {key: dict(shards) for key, shards in counts.items()}


def membership_switches(rings: Sequence[RingDocument]) -> list[float]:
    """Return the switch times of the rings that changed the member list."""
    switches = []
    for previous, ring in itertools.pairwise(rings):
        if ring.member_names != previous.member_names and ring.effective_at is not None:
            switches.append(ring.effective_at.timestamp())
    return switches


def memberships(rings: Sequence[RingDocument]) -> dict[str, Membership]:
    """Return each member's join and leave switch times over a sequence of rings.

    Members of the first ring count as joined from the start.
    """
    joined: dict[str, float | None] = {name: None for name in rings[0].member_names}
    left: dict[str, float | None] = {}
    for ring in rings[1:]:
        moment = ring.effective_at.timestamp() if ring.effective_at is not None else None
        for name in ring.member_names - joined.keys():
            joined[name] = moment
        for name in joined.keys() - ring.member_names - left.keys():
            left[name] = moment
    return {name: Membership(joined[name], left.get(name)) for name in joined}


@dataclasses.dataclass(frozen=True)
class WindowJudge:
    """Decides which flushed counts a correct reshard can explain."""

    sender: PacedSender
    switches: Sequence[float]
    tolerance: float
    interval: float

    def allowance(self, name: str, window: float) -> int:
        """Return the increments of a series sent within the tolerance of a switch.

        Only switches at either edge of the window count, because only
        increments sent that close to a switch may land in an unexpected window.
        """
        edges = (window - self.interval, window)
        near = [s for s in self.switches if any(abs(s - e) < SAME_MOMENT for e in edges)]
        return self.sender.sent_near(name, near, self.tolerance)

    def split_windows(self, counts: WindowCounts) -> list[str]:
        """Describe every window in which two shards flushed more of one series than allowed.

        The smaller shares of a split window are what was routed on the
        unexpected side of a switch.
        """
        found = []
        for (name, window), shards in sorted(counts.items()):
            if len(shards) < 2:
                continue
            minority = sum(shards.values()) - max(shards.values())
            allowed = self.allowance(name, window)
            if minority > allowed:
                found.append(f"{name} in window {window:.0f}: {shards} (allowed {allowed})")
        return found

    def outside_membership(self, counts: WindowCounts, members: dict[str, Membership]) -> list[str]:
        """Describe counts that a shard flushed for a window outside its time in the ring."""
        found = []
        for (name, window), shards in sorted(counts.items()):
            for shard, count in shards.items():
                membership = members.get(shard)
                if membership is not None and self._inside(window, membership):
                    continue
                allowed = self.allowance(name, window) if membership is not None else 0
                if count > allowed:
                    found.append(
                        f"{shard} flushed {count:g} of {name} for window {window:.0f}, "
                        f"outside its membership {membership} (allowed {allowed})"
                    )
        return found

    def _inside(self, window: float, membership: Membership) -> bool:
        start = window - self.interval
        if membership.joined_at is not None and start < membership.joined_at - SAME_MOMENT:
            return False
        return membership.left_at is None or window <= membership.left_at + SAME_MOMENT


def totals_by_series(counts: WindowCounts) -> dict[str, float]:
    """Return the flushed total of each series over all shards and windows."""
    totals: dict[str, float] = defaultdict(float)
    for (name, _), shards in counts.items():
        totals[name] += sum(shards.values())
    return dict(totals)


def totals_by_shard(counts: WindowCounts) -> dict[str, float]:
    """Return the flushed total of each shard over all series and windows."""
    totals: dict[str, float] = defaultdict(float)
    for shards in counts.values():
        for shard, count in shards.items():
            totals[shard] += count
    return dict(totals)
