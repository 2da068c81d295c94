"""A simulated cluster that applies reshard planner steps and checks their safety.

`World` replaces the StatefulSet controller, the kubelet and the ring
ConfigMap. Every applied step is checked against the reshard invariants:

- a member joins the ring only while its pod is Ready;
- a ring never moves an earlier ring's switch time forward;
- a membership change switches on a flush-interval boundary, after the lead;
- a pod stops only after the ring that dropped it took effect and one flush
  interval (plus the margin) passed.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from statsd_operator import names
from statsd_operator.planner import (
    Converged,
    Observed,
    PodState,
    ScaleStatefulSet,
    Step,
    Target,
    Wait,
    WriteRing,
    plan_step,
)
from statsd_proxy.ringdoc import RingDocument

START = datetime(2026, 12, 4, 15, 0, 3, tzinfo=UTC)


def make_target(shards: int, **changes: object) -> Target:
    """Return a target for cluster "main" with 10 s flushes and short waits."""
    target = Target(
        cluster="main",
        shards=shards,
        port=8125,
        hash_key="series",
        flush_interval=timedelta(seconds=10),
        lead=timedelta(seconds=2),
        drain_margin=timedelta(seconds=1),
        poll_interval=timedelta(seconds=1),
    )
    return dataclasses.replace(target, **changes)  # type: ignore[arg-type]


class UnsafeStepError(AssertionError):
    """A planned step broke a reshard invariant."""


@dataclasses.dataclass
class World:
    """Simulated StatefulSet, pods and ring of the cluster "main"."""

    now: datetime = START
    replicas: int | None = None
    pods: dict[str, PodState] = dataclasses.field(default_factory=dict)
    ring: RingDocument | None = None
    rings: list[RingDocument] = dataclasses.field(default_factory=list)
    steps: list[Step] = dataclasses.field(default_factory=list)
    next_ip: int = 1

    def observe(self) -> Observed:
        """Return the planner's view of the world."""
        return Observed(replicas=self.replicas, pods=dict(self.pods), ring=self.ring, now=self.now)

    def plan(self, target: Target) -> Step:
        """Ask the planner for the next step and record it."""
        step = plan_step(target, self.observe())
        self.steps.append(step)
        return step

    def apply(self, target: Target, step: Step) -> None:
        """Apply one step after checking it against the invariants."""
        if isinstance(step, ScaleStatefulSet):
            self._scale(target, step)
        elif isinstance(step, WriteRing):
            self._write_ring(target, step.ring)

    def make_ready(self, *ordinals: int) -> None:
        """Mark pods Ready, as a kubelet would once their containers start."""
        for ordinal in ordinals:
            name = names.pod_name("main", ordinal)
            self.pods[name] = dataclasses.replace(self.pods[name], ready=True)

    def restart_pod(self, ordinal: int) -> str:
        """Give a pod a new IP, as a pod recreated on another node gets; return the IP."""
        name = names.pod_name("main", ordinal)
        ip = self._new_ip()
        self.pods[name] = PodState(name=name, ready=True, ip=ip)
        return ip

    def run(self, target: Target, limit: int = 40) -> list[str]:
        """Plan and apply until converged; pods start Ready on the next poll.

        Returns the reasons of the steps taken, waits included.
        """
        reasons = []
        for _ in range(limit):
            step = self.plan(target)
            if isinstance(step, Converged):
                return reasons
            reasons.append(step.reason)
            if isinstance(step, Wait):
                self.now += step.delay
                self.make_ready(*self._ordinals())
            else:
                self.apply(target, step)
        raise AssertionError(f"no convergence after {limit} steps: {reasons}")

    def member_names(self) -> list[str]:
        """Return the names of the ring's members."""
        return [] if self.ring is None else [m.name for m in self.ring.members]

    def _scale(self, target: Target, step: ScaleStatefulSet) -> None:
        if step.previous != self.replicas:
            raise UnsafeStepError(f"scale from {step.previous}, but replicas are {self.replicas}")
        for ordinal in range(step.replicas, self.replicas or 0):
            self._check_drained(target, names.pod_name("main", ordinal))
            del self.pods[names.pod_name("main", ordinal)]
        for ordinal in range(self.replicas or 0, step.replicas):
            name = names.pod_name("main", ordinal)
            self.pods[name] = PodState(name=name, ready=False, ip=self._new_ip())
        self.replicas = step.replicas

    def _check_drained(self, target: Target, name: str) -> None:
        if name in self.member_names():
            raise UnsafeStepError(f"{name} stops while it is in the ring")
        for earlier, later in zip(self.rings, self.rings[1:], strict=False):
            dropped = name in earlier.member_names and name not in later.member_names
            assert later.effective_at is not None
            drained = later.effective_at + target.flush_interval + target.drain_margin
            if dropped and self.now < drained:
                raise UnsafeStepError(f"{name} stops at {self.now}, before its drain at {drained}")

    def _write_ring(self, target: Target, ring: RingDocument) -> None:
        previous = self.ring
        for member in ring.members:
            pod = self.pods.get(member.name)
            joined = previous is None or member.name not in previous.member_names
            if joined and (pod is None or not pod.usable):
                raise UnsafeStepError(f"{member.name} joins the ring while its pod is not Ready")
        if previous is not None:
            self._check_switch(target, previous, ring)
        self.ring = ring
        self.rings.append(ring)

    def _check_switch(self, target: Target, previous: RingDocument, ring: RingDocument) -> None:
        assert ring.effective_at is not None
        if ring.version != previous.version + 1:
            raise UnsafeStepError(f"version {ring.version} follows {previous.version}")
        if previous.effective_at is not None and ring.effective_at < previous.effective_at:
            raise UnsafeStepError("a ring switches before the ring it replaces")
        if ring.member_names != previous.member_names:
            seconds = ring.effective_at.timestamp()
            if seconds % target.flush_interval.total_seconds():
                raise UnsafeStepError(f"switch time {ring.effective_at} is off the flush boundary")
            if ring.effective_at < self.now + target.lead:
                raise UnsafeStepError(f"switch time {ring.effective_at} is within the lead time")

    def _ordinals(self) -> list[int]:
        found = (names.pod_ordinal("main", name) for name in self.pods)
        return [ordinal for ordinal in found if ordinal is not None]

    def _new_ip(self) -> str:
        self.next_ip += 1
        return f"10.0.0.{self.next_ip}"


def converged_world(shards: int) -> World:
    """Return a world that already runs ``shards`` shards, all Ready and in the ring."""
    world = World()
    world.run(make_target(shards))
    world.now += timedelta(minutes=5)
    return world
