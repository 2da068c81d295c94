"""The reshard planner, step by step, on a simulated cluster."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from statsd_operator.planner import (
    Converged,
    Observed,
    ScaleStatefulSet,
    Wait,
    WriteRing,
    next_boundary,
    plan_step,
    switch_time,
)
from statsd_proxy.ringdoc import Member, RingDocument

from tests.operator.simulation import START, World, converged_world, make_target


def members(count: int) -> list[str]:
    return [f"main-statsd-{i}" for i in range(count)]


def test_create_steps() -> None:
    world = World()

    reasons = world.run(make_target(3))

    assert reasons == ["Creating", "WaitingForPods", "AddingMembers"]
    assert world.member_names() == members(3)


def test_first_ring_immediate() -> None:
    world = World()
    world.apply(make_target(2), world.plan(make_target(2)))
    world.make_ready(0, 1)

    step = world.plan(make_target(2))

    assert isinstance(step, WriteRing)
    assert step.ring.version == 1
    assert step.ring.effective_at == world.now


def test_scale_up_steps() -> None:
    world = converged_world(3)

    reasons = world.run(make_target(5))

    assert reasons == ["ScalingUp", "WaitingForPods", "AddingMembers"]
    assert world.member_names() == members(5)
    assert world.replicas == 5


def test_scale_up_waits_for_ready() -> None:
    world = converged_world(3)
    target = make_target(5)
    world.apply(target, world.plan(target))
    world.make_ready(3)

    step = world.plan(target)

    assert isinstance(step, Wait)
    assert step.reason == "WaitingForPods"
    assert "main-statsd-4" in step.message
    assert "main-statsd-3" not in step.message
    assert world.member_names() == members(3)


def test_scale_up_ring_on_boundary() -> None:
    world = converged_world(3)
    target = make_target(5)
    world.apply(target, world.plan(target))
    world.make_ready(3, 4)

    step = world.plan(target)

    assert isinstance(step, WriteRing)
    assert step.added == ("main-statsd-3", "main-statsd-4")
    assert step.ring.effective_at == next_boundary(world.now + target.lead, target.flush_interval)


def test_scale_down_steps() -> None:
    world = converged_world(5)

    reasons = world.run(make_target(3))

    assert reasons == ["RemovingMembers", "Draining", "ScalingDown"]
    assert world.member_names() == members(3)
    assert world.replicas == 3


def test_scale_down_drain_deadline() -> None:
    world = converged_world(5)
    target = make_target(3)
    world.apply(target, world.plan(target))
    assert world.ring is not None
    assert world.ring.effective_at is not None
    deadline = world.ring.effective_at + target.flush_interval + target.drain_margin

    step = world.plan(target)

    assert isinstance(step, Wait)
    assert step.reason == "Draining"
    assert world.now + step.delay == deadline
    assert "main-statsd-3, main-statsd-4" in step.message


def test_scale_down_after_drain() -> None:
    world = converged_world(5)
    target = make_target(3)
    world.apply(target, world.plan(target))
    wait = world.plan(target)
    assert isinstance(wait, Wait)
    world.now += wait.delay

    step = world.plan(target)

    assert step == ScaleStatefulSet(replicas=3, previous=5, reason="ScalingDown")


def test_change_of_mind_before_ready() -> None:
    world = converged_world(3)
    world.apply(make_target(5), world.plan(make_target(5)))

    reasons = world.run(make_target(4))

    assert reasons == ["ScalingDown", "WaitingForPods", "AddingMembers"]
    assert world.member_names() == members(4)
    assert world.replicas == 4


def test_change_of_mind_after_ring() -> None:
    world = converged_world(3)
    world.run(make_target(5))

    reasons = world.run(make_target(4))

    assert reasons == ["RemovingMembers", "Draining", "ScalingDown"]
    assert world.member_names() == members(4)


def test_change_of_mind_while_draining() -> None:
    world = converged_world(5)
    world.apply(make_target(3), world.plan(make_target(3)))

    reasons = world.run(make_target(5))

    assert reasons == ["AddingMembers"]
    assert world.member_names() == members(5)
    assert world.replicas == 5


def test_new_ip_readdresses() -> None:
    world = converged_world(3)
    assert world.ring is not None
    before = world.ring
    ip = world.restart_pod(1)

    step = world.plan(make_target(3))

    assert isinstance(step, WriteRing)
    assert step.reason == "AddressesChanged"
    assert step.readdressed == ("main-statsd-1",)
    assert step.ring.member_names == before.member_names
    assert step.ring.members[1] == Member("main-statsd-1", ip, 8125)
    assert step.ring.effective_at == before.effective_at


def test_new_ip_keeps_pending_switch() -> None:
    world = converged_world(5)
    target = make_target(3)
    world.apply(target, world.plan(target))
    assert world.ring is not None
    pending = world.ring.effective_at
    world.restart_pod(0)

    step = world.plan(target)

    assert isinstance(step, WriteRing)
    assert step.reason == "AddressesChanged"
    assert step.ring.effective_at == pending


def test_missing_ip_keeps_address() -> None:
    world = converged_world(3)
    assert world.ring is not None
    world.pods["main-statsd-2"] = dataclasses.replace(
        world.pods["main-statsd-2"], ready=False, ip=None
    )

    step = world.plan(make_target(3))

    assert isinstance(step, Converged)


def test_unready_member_held() -> None:
    world = converged_world(3)
    world.pods["main-statsd-0"] = dataclasses.replace(world.pods["main-statsd-0"], ready=False)

    step = world.plan(make_target(3))

    assert isinstance(step, Converged)


def test_port_change_readdresses() -> None:
    world = converged_world(2)

    step = world.plan(make_target(2, port=9125))

    assert isinstance(step, WriteRing)
    assert [m.port for m in step.ring.members] == [9125, 9125]


def test_hash_key_change() -> None:
    world = converged_world(2)
    target = make_target(2, hash_key="name")

    step = world.plan(target)

    assert isinstance(step, WriteRing)
    assert step.reason == "HashKeyChanged"
    assert step.ring.hash_key == "name"
    assert step.ring.effective_at == next_boundary(world.now + target.lead, target.flush_interval)


def test_ring_restored() -> None:
    world = converged_world(2)
    assert world.ring is not None
    observed = dataclasses.replace(world.observe(), ring_stored=False, version_floor=9)

    step = plan_step(make_target(2), observed)

    assert isinstance(step, WriteRing)
    assert step.reason == "RingRestored"
    assert step.ring.version == 10
    assert step.ring.member_names == world.ring.member_names


def test_statefulset_recreated_spans_ring() -> None:
    world = converged_world(5)
    world.replicas = None

    step = world.plan(make_target(3))

    assert step == ScaleStatefulSet(replicas=5, previous=None, reason="Creating")


def test_foreign_members_replaced() -> None:
    world = converged_world(2)
    world.ring = RingDocument(
        version=3, members=(Member("old-0", "10.9.9.9", 8125),), hash_key="series"
    )

    step = world.plan(make_target(2))

    assert isinstance(step, WriteRing)
    assert step.removed == ("old-0",)
    assert step.added == ("main-statsd-0", "main-statsd-1")


def test_next_boundary() -> None:
    ten = timedelta(seconds=10)

    assert next_boundary(datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC), ten) == datetime(
        2026, 1, 1, 0, 0, 10, tzinfo=UTC
    )
    assert next_boundary(datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC), ten) == datetime(
        2026, 1, 1, 0, 0, 10, tzinfo=UTC
    )
    assert next_boundary(datetime(2026, 1, 1, 0, 0, 10, 1, tzinfo=UTC), ten) == datetime(
        2026, 1, 1, 0, 0, 20, tzinfo=UTC
    )


@pytest.mark.parametrize("membership_changed", [True, False])
def test_switch_time_not_earlier(membership_changed: bool) -> None:
    later = START + timedelta(seconds=57)
    ring = RingDocument(version=1, members=(), effective_at=later)
    observed = Observed(replicas=1, pods={}, ring=ring, now=START)

    moment = switch_time(make_target(1), observed, membership_changed=membership_changed)

    assert moment >= later


def test_new_ip_while_waiting_for_pods() -> None:
    world = converged_world(3)
    target = make_target(5)
    world.apply(target, world.plan(target))
    world.restart_pod(0)

    step = world.plan(target)

    assert isinstance(step, WriteRing)
    assert step.reason == "AddressesChanged"
