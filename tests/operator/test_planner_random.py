"""The reshard planner under random changes of mind, pod restarts and delays."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from statsd_operator import names
from statsd_operator.planner import Converged, Wait

from tests.operator.simulation import World, make_target

# Each action: ("target", shards), ("step", make pods ready), ("restart", ordinal)
# or ("sleep", seconds).
actions = st.lists(
    st.one_of(
        st.tuples(st.just("target"), st.integers(min_value=1, max_value=6)),
        st.tuples(st.just("step"), st.booleans()),
        st.tuples(st.just("restart"), st.integers(min_value=0, max_value=5)),
        st.tuples(st.just("sleep"), st.integers(min_value=0, max_value=25)),
    ),
    max_size=40,
)


def play(world: World, shards: int, script: list[tuple[str, object]]) -> int:
    for kind, value in script:
        if kind == "target":
            assert isinstance(value, int)
            shards = value
        elif kind == "sleep":
            assert isinstance(value, int)
            world.now += timedelta(seconds=value)
        elif kind == "restart":
            name = names.pod_name("main", int(str(value)))
            if name in world.pods:
                world.restart_pod(int(str(value)))
        else:
            step_once(world, shards, make_ready=bool(value))
    return shards


def step_once(world: World, shards: int, *, make_ready: bool) -> None:
    target = make_target(shards)
    step = world.plan(target)
    if isinstance(step, Wait):
        world.now += min(step.delay, timedelta(seconds=3))
    elif not isinstance(step, Converged):
        world.apply(target, step)
    if make_ready:
        ordinals = (names.pod_ordinal("main", name) for name in list(world.pods))
        world.make_ready(*(o for o in ordinals if o is not None))


@settings(max_examples=150, deadline=None)
@given(start=st.integers(min_value=1, max_value=6), script=actions)
def test_random_reshards_safe(start: int, script: list[tuple[str, object]]) -> None:
    world = World()
    world.run(make_target(start))

    final = play(world, start, script)
    world.run(make_target(final))

    assert world.member_names() == [names.pod_name("main", i) for i in range(final)]
    assert world.replicas == final
    assert world.ring is not None
    hosts = {member.name: member.host for member in world.ring.members}
    assert hosts == {name: pod.ip for name, pod in world.pods.items()}
