"""Plain counters that the data plane increments on its hot path.

Prometheus client counters take a lock on every increment, which costs more
than routing a line, so the hot path adds to plain integers here and the
metrics module turns a snapshot of them into Prometheus families at scrape
time. A snapshot is a plain dict, so a worker process can send it to the
process that serves ``/metrics``.
"""

from __future__ import annotations

from typing import Any

DROP_REASONS = (
    "invalid",
    "blank",
    "backpressure",
    "send_error",
    "unavailable",
    "no_ring",
    "too_long",
)


class MemberStats:
    """Counters for one member. Kept after the member leaves, so totals never go back."""

    __slots__ = (
        "datagrams_sent",
        "dropped_backpressure",
        "dropped_send_error",
        "dropped_unavailable",
        "lines_forwarded",
        "send_errors",
    )

    def __init__(self) -> None:
        self.lines_forwarded = 0
        self.datagrams_sent = 0
        self.send_errors = 0
        self.dropped_backpressure = 0
        self.dropped_unavailable = 0
        self.dropped_send_error = 0


class ProxyStats:
    """Counters for one proxy process."""

    __slots__ = (
        "datagrams_failed",
        "datagrams_tcp",
        "datagrams_udp",
        "discovery_errors",
        "lines_blank",
        "lines_invalid",
        "lines_no_ring",
        "lines_received",
        "lines_too_long",
        "member_ready",
        "members",
        "ring_members",
        "ring_stale",
        "ring_updates",
        "ring_version",
        "unready_policy",
    )

    def __init__(self) -> None:
        self.datagrams_udp = 0
        self.datagrams_tcp = 0
        self.datagrams_failed = 0
        self.lines_received = 0
        self.lines_invalid = 0
        self.lines_blank = 0
        self.lines_no_ring = 0
        self.lines_too_long = 0
        self.members: dict[str, MemberStats] = {}
        self.member_ready: dict[str, bool] = {}
        self.ring_version = -1
        self.ring_members = 0
        self.ring_updates = 0
        self.ring_stale = False
        self.discovery_errors: dict[str, int] = {}
        self.unready_policy = "hold"

    def member(self, name: str) -> MemberStats:
        """Return the counters of member ``name``, creating them on first use."""
        stats = self.members.get(name)
        if stats is None:
            stats = self.members[name] = MemberStats()
        return stats

    def count_discovery_error(self, kind: str) -> None:
        """Add one discovery error of ``kind`` (for example ``api``, ``invalid``)."""
        self.discovery_errors[kind] = self.discovery_errors.get(kind, 0) + 1

    def dropped(self) -> dict[str, int]:
        """Return dropped lines by reason, summed over members where needed."""
        # Copied first: the metrics thread reads while the event loop adds members.
        members = list(self.members.values())
        return {
            "invalid": self.lines_invalid,
            "blank": self.lines_blank,
            "backpressure": sum(m.dropped_backpressure for m in members),
            "send_error": sum(m.dropped_send_error for m in members),
            "unavailable": sum(m.dropped_unavailable for m in members),
            "no_ring": self.lines_no_ring,
            "too_long": self.lines_too_long,
        }

    def snapshot(self) -> dict[str, Any]:
        """Return every counter as plain JSON-ready data."""
        return {
            "datagrams": {"udp": self.datagrams_udp, "tcp": self.datagrams_tcp},
            "datagrams_failed": self.datagrams_failed,
            "lines_received": self.lines_received,
            "lines_invalid": self.lines_invalid,
            "dropped": self.dropped(),
            "members": {
                name: {
                    "lines_forwarded": m.lines_forwarded,
                    "datagrams_sent": m.datagrams_sent,
                    "send_errors": m.send_errors,
                }
                for name, m in list(self.members.items())
            },
            "member_ready": {name: int(ready) for name, ready in list(self.member_ready.items())},
            "ring_version": self.ring_version,
            "ring_members": self.ring_members,
            "ring_updates": self.ring_updates,
            "ring_stale": int(self.ring_stale),
            "discovery_errors": dict(list(self.discovery_errors.items())),
            "unready_policy": self.unready_policy,
        }


def merge_snapshots(snapshots: list[dict[str, Any]], own: dict[str, Any] | None) -> dict[str, Any]:
    """Sum the counters of several workers' snapshots.

    Ring gauges come from the worker with the lowest ring version, so the
    merged view never claims a switch that some worker has not made yet.
    ``own`` adds the supervisor's discovery errors, readiness and policy.
    """
    merged = ProxyStats().snapshot()
    for snapshot in snapshots:
        for transport, value in snapshot["datagrams"].items():
            merged["datagrams"][transport] = merged["datagrams"].get(transport, 0) + value
        for key in ("datagrams_failed", "lines_received", "lines_invalid", "ring_updates"):
            merged[key] += snapshot[key]
        for reason, value in snapshot["dropped"].items():
            merged["dropped"][reason] = merged["dropped"].get(reason, 0) + value
        for name, counts in snapshot["members"].items():
            target = merged["members"].setdefault(name, dict.fromkeys(counts, 0))
            for key, value in counts.items():
                target[key] = target.get(key, 0) + value
        _add_counts(merged["discovery_errors"], snapshot["discovery_errors"])
    versioned = [s for s in snapshots if s["ring_version"] >= 0]
    if versioned:
        oldest = min(versioned, key=lambda s: s["ring_version"])
        merged["ring_version"] = oldest["ring_version"]
        merged["ring_members"] = oldest["ring_members"]
        merged["ring_stale"] = max(s["ring_stale"] for s in versioned)
        merged["member_ready"] = dict(oldest["member_ready"])
    if own is not None:
        _add_counts(merged["discovery_errors"], own["discovery_errors"])
        merged["member_ready"].update(own["member_ready"])
        merged["unready_policy"] = own["unready_policy"]
    return merged


def _add_counts(target: dict[str, int], source: dict[str, int]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + value
