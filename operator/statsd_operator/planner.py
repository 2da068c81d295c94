"""The reshard planner: the next safe step from the desired and the observed state.

`plan_step` is a pure function. It looks at the whole desired state (shard
count, port, hash key, flush interval) and at what exists (the StatefulSet's
replica count, the shard pods, the current ring) and returns one step. The
caller applies the step, observes again and requests the next one, so a change
of mind mid-way or an operator restart simply continues from what exists.

The order keeps every sample on a shard that is up and every series on one
shard per flush window:

1. members that should leave are removed from the ring first, with the
   switch time (``effectiveAt``) on a flush-interval boundary;
2. the StatefulSet grows at once, but shrinks only after the last ring change
   plus one flush interval (and a margin), so leaving shards flush their last
   window before they stop;
3. new members join the ring only when all of their pods are Ready;
4. a member whose pod has a new IP or a new port gets a new ring version
   without a change of membership, at any point of a reshard;
5. a new hash key gets a new ring version on a flush-interval boundary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from statsd_proxy.ringdoc import HashKey, Member, RingDocument, format_time

from statsd_operator import names


@dataclasses.dataclass(frozen=True)
class PodState:
    """The readiness, IP address and termination state of one shard pod."""

    name: str
    ready: bool
    ip: str | None
    terminating: bool = False

    @property
    def usable(self) -> bool:
        """Whether the pod can receive traffic now: Ready, with an IP, not terminating."""
        return self.ready and bool(self.ip) and not self.terminating


@dataclasses.dataclass(frozen=True)
class Target:
    """The desired state and the timing rules of one cluster."""

    cluster: str
    shards: int
    port: int
    hash_key: HashKey
    flush_interval: timedelta
    # Minimum time between writing a ring and its switch time, so that every
    # proxy has read the ring before it takes effect.
    lead: timedelta = timedelta(seconds=5)
    # Extra wait after a drain, for clock skew and the time a flush takes.
    drain_margin: timedelta = timedelta(seconds=2)
    # How often to look again while waiting for pods.
    poll_interval: timedelta = timedelta(seconds=5)


@dataclasses.dataclass(frozen=True)
class Observed:
    """The state of the cluster's children as read from the API."""

    replicas: int | None
    pods: Mapping[str, PodState]
    ring: RingDocument | None
    now: datetime
    # The highest ring version recorded anywhere (the status); a new ring
    # always gets a higher one, even when the ring ConfigMap was lost.
    version_floor: int = 0
    # False when ``ring`` was recovered from the status because the ring
    # ConfigMap is missing or unreadable, so it must be written again.
    ring_stored: bool = True


@dataclasses.dataclass(frozen=True)
class ScaleStatefulSet:
    """Set the StatefulSet's replicas (creating it when ``previous`` is None)."""

    replicas: int
    previous: int | None
    reason: str


@dataclasses.dataclass(frozen=True)
class WriteRing:
    """Write a new ring version; the name tuples say what changed."""

    ring: RingDocument
    reason: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    readdressed: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Wait:
    """A pause of ``delay`` before the next step, with a ``message`` naming its cause."""

    reason: str
    message: str
    delay: timedelta


@dataclasses.dataclass(frozen=True)
class Converged:
    """The ring and the StatefulSet match the desired state."""


Step = ScaleStatefulSet | WriteRing | Wait | Converged

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def plan_step(target: Target, observed: Observed) -> Step:
    """Return the next step that moves the cluster safely towards ``target``."""
    ring_members = observed.ring.members if observed.ring is not None else ()
    wanted = [names.pod_name(target.cluster, i) for i in range(target.shards)]
    in_ring = {member.name for member in ring_members}
    leaving = [m.name for m in ring_members if m.name not in wanted]
    if observed.replicas is None:
        span = max(target.shards, _ring_span(target.cluster, in_ring))
        return ScaleStatefulSet(replicas=span, previous=None, reason="Creating")
    if observed.ring is not None and not observed.ring_stored:
        return _restore_ring(target, observed)
    if leaving:
        return _remove_members(target, observed, wanted, leaving)
    # A new address moves no series, so it is written before any step that
    # waits. A removal above writes the new addresses along with it.
    readdress = _plan_readdress(target, observed)
    if readdress is not None:
        return readdress
    step = _plan_replicas(target, observed, observed.replicas)
    if step is not None:
        return step
    joining = [name for name in wanted if name not in in_ring]
    if joining:
        return _add_members(target, observed, joining)
    if observed.ring is not None and observed.ring.hash_key != target.hash_key:
        ring = _next_ring(target, observed, observed.ring.members, membership_changed=True)
        return WriteRing(ring=ring, reason="HashKeyChanged")
    return Converged()


def _remove_members(
    target: Target, observed: Observed, wanted: Sequence[str], leaving: Sequence[str]
) -> Step:
    assert observed.ring is not None
    kept = [_readdress(m, target, observed.pods) for m in observed.ring.members if m.name in wanted]
    if not kept:
        # Only possible after an outside edit of the ring: replace its members
        # with the wanted shards that are ready, rather than write an empty ring.
        kept = [_new_member(name, target, observed.pods) for name in _usable(wanted, observed)]
    if not kept:
        return _wait_for_pods(target, wanted, "to replace the ring members")
    ring = _next_ring(target, observed, kept, membership_changed=True)
    added = tuple(sorted({m.name for m in kept} - observed.ring.member_names))
    return WriteRing(ring=ring, reason="RemovingMembers", added=added, removed=tuple(leaving))


def _restore_ring(target: Target, observed: Observed) -> Step:
    assert observed.ring is not None
    members = [_readdress(m, target, observed.pods) for m in observed.ring.members]
    ring = _next_ring(target, observed, members, membership_changed=False)
    return WriteRing(ring=ring, reason="RingRestored")


def _plan_replicas(target: Target, observed: Observed, replicas: int) -> Step | None:
    if replicas < target.shards:
        return ScaleStatefulSet(replicas=target.shards, previous=replicas, reason="ScalingUp")
    if replicas == target.shards:
        return None
    until = drain_deadline(target, observed.ring)
    if until is not None and observed.now < until:
        leaving = [names.pod_name(target.cluster, i) for i in range(target.shards, replicas)]
        return Wait(
            reason="Draining",
            message=(
                f"waiting until {format_time(until)} for {', '.join(leaving)} to flush "
                "their last window before the StatefulSet shrinks"
            ),
            delay=until - observed.now,
        )
    return ScaleStatefulSet(replicas=target.shards, previous=replicas, reason="ScalingDown")


def _add_members(target: Target, observed: Observed, joining: Sequence[str]) -> Step:
    missing = [name for name in joining if name not in _usable(joining, observed)]
    if missing:
        return _wait_for_pods(target, missing, "before adding them to the ring")
    current = observed.ring.members if observed.ring is not None else ()
    members = [_readdress(m, target, observed.pods) for m in current]
    members += [_new_member(name, target, observed.pods) for name in joining]
    ring = _next_ring(target, observed, members, membership_changed=True)
    return WriteRing(ring=ring, reason="AddingMembers", added=tuple(joining))


def _plan_readdress(target: Target, observed: Observed) -> WriteRing | None:
    if observed.ring is None:
        return None
    current = observed.ring.members
    members = [_readdress(m, target, observed.pods) for m in current]
    changed = tuple(new.name for old, new in zip(current, members, strict=True) if old != new)
    if not changed:
        return None
    ring = _next_ring(target, observed, members, membership_changed=False)
    return WriteRing(ring=ring, reason="AddressesChanged", readdressed=changed)


def drain_deadline(target: Target, ring: RingDocument | None) -> datetime | None:
    """Return when shards that left ``ring`` have flushed their last window.

    That is the ring's switch time plus one flush interval and the margin, or
    None when the ring has no switch time.
    """
    if ring is None or ring.effective_at is None:
        return None
    return ring.effective_at + target.flush_interval + target.drain_margin


def next_boundary(moment: datetime, interval: timedelta) -> datetime:
    """Return the first multiple of ``interval`` since the Unix epoch at or after ``moment``."""
    remainder = (moment - _EPOCH) % interval
    return moment if not remainder else moment + (interval - remainder)


def switch_time(target: Target, observed: Observed, *, membership_changed: bool) -> datetime:
    """Return the ``effectiveAt`` of a new ring.

    It never precedes the current ring's switch time, so a pending change is
    never pulled forward. A membership change waits at least the lead time and
    lands on a flush-interval boundary. An address change keeps the current
    switch time: a past one applies at once, a pending one stays pending, and
    the drain of shards that left the ring is still counted from it.
    """
    if observed.ring is None:
        # The first ring cannot split a series, so it applies at once.
        return observed.now
    previous = observed.ring.effective_at
    if not membership_changed:
        return previous if previous is not None else observed.now
    earliest = observed.now + target.lead
    if previous is not None:
        earliest = max(earliest, previous)
    return next_boundary(earliest, target.flush_interval)


def _next_ring(
    target: Target, observed: Observed, members: Iterable[Member], *, membership_changed: bool
) -> RingDocument:
    current = observed.ring.version if observed.ring is not None else 0
    return RingDocument(
        version=max(current, observed.version_floor) + 1,
        members=tuple(sorted(members, key=lambda member: member.name)),
        hash_key=target.hash_key,
        effective_at=switch_time(target, observed, membership_changed=membership_changed),
    )


def _readdress(member: Member, target: Target, pods: Mapping[str, PodState]) -> Member:
    pod = pods.get(member.name)
    host = member.host
    if pod is not None and pod.ip and not pod.terminating:
        host = pod.ip
    return dataclasses.replace(member, host=host, port=target.port)


def _new_member(name: str, target: Target, pods: Mapping[str, PodState]) -> Member:
    ip = pods[name].ip
    assert ip is not None
    return Member(name=name, host=ip, port=target.port)


def _usable(candidates: Iterable[str], observed: Observed) -> list[str]:
    return [n for n in candidates if n in observed.pods and observed.pods[n].usable]


def _wait_for_pods(target: Target, pods: Sequence[str], purpose: str) -> Wait:
    return Wait(
        reason="WaitingForPods",
        message=f"waiting for pods {', '.join(pods)} to become Ready {purpose}",
        delay=target.poll_interval,
    )


def _ring_span(cluster: str, member_names: Iterable[str]) -> int:
    ordinals = [names.pod_ordinal(cluster, name) for name in member_names]
    return max((o + 1 for o in ordinals if o is not None), default=0)
