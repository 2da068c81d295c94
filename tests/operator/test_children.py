"""Pure parts of reading and converging children: patches, pods, rings."""

from __future__ import annotations

from typing import Any

from statsd_operator.build import Owner, build_config_map, build_statefulset
from statsd_operator.children import (
    build_update_patch,
    pod_state,
    pod_states,
    ring_from_status,
    statefulset_replicas,
    with_removals,
)
from statsd_operator.spec import parse_spec

OWNER = Owner(name="main", namespace="default", uid="u")
SINK = {"graphite": {"host": "g"}}


def pod(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": status}


def test_with_removals() -> None:
    patch = with_removals({"a": "1", "b": "2"}, {"a": "3", "c": "4"})

    assert patch == {"a": "3", "c": "4", "b": None}


def test_config_map_patch_drops_keys() -> None:
    desired = build_config_map(OWNER, parse_spec({"sink": SINK}))
    current = {"data": {"telegraf.conf": "old"}}

    patch = build_update_patch(current, desired)

    assert patch["data"]["telegraf.conf"] is None
    assert patch["data"]["config.js"] == desired["data"]["config.js"]


def test_statefulset_patch_template_only() -> None:
    spec = parse_spec({"sink": SINK})
    desired = build_statefulset(OWNER, spec, "statsd:2", 3)
    current = build_statefulset(
        OWNER, parse_spec({"sink": SINK, "podTemplate": {"nodeSelector": {"a": "b"}}}), "s:1", 5
    )
    current["spec"]["template"]["metadata"]["labels"]["old"] = "x"

    patch = build_update_patch(current, desired)

    assert set(patch["spec"]) == {"template", "updateStrategy"}
    assert patch["spec"]["template"]["spec"]["nodeSelector"] is None
    assert patch["spec"]["template"]["metadata"]["labels"]["old"] is None
    assert patch["spec"]["template"]["spec"]["containers"][0]["image"] == "statsd:2"


def test_pod_state_ready() -> None:
    state = pod_state(
        pod("main-statsd-0", podIP="10.0.0.1", conditions=[{"type": "Ready", "status": "True"}])
    )

    assert state.ready is True
    assert state.ip == "10.0.0.1"
    assert state.usable is True


def test_pod_state_pending() -> None:
    state = pod_state({"metadata": {"name": "main-statsd-0"}})

    assert state.ready is False
    assert state.ip is None
    assert state.usable is False


def test_pod_state_terminating() -> None:
    raw = pod("main-statsd-0", podIP="10.0.0.1", conditions=[{"type": "Ready", "status": "True"}])
    raw["metadata"]["deletionTimestamp"] = "2026-12-04T15:00:00Z"

    assert pod_state(raw).usable is False


def test_pod_states_ignore_others() -> None:
    states = pod_states("main", [pod("main-statsd-1"), pod("other-statsd-0"), pod("main-x")])

    assert list(states) == ["main-statsd-1"]


def test_statefulset_replicas() -> None:
    assert statefulset_replicas(None) is None
    assert statefulset_replicas({"spec": {}}) == 1
    assert statefulset_replicas({"spec": {"replicas": 4}}) == 4


def test_ring_from_status() -> None:
    status = {
        "ringVersion": 5,
        "ringEffectiveAt": "2026-12-04T15:00:10Z",
        "members": [{"name": "main-statsd-0", "host": "10.0.0.1", "port": 8125}],
    }

    ring = ring_from_status(status)

    assert ring is not None
    assert ring.version == 5
    assert ring.member_names == frozenset({"main-statsd-0"})


def test_ring_from_status_empty() -> None:
    assert ring_from_status({}) is None
    assert ring_from_status({"members": [{"name": "bad name"}]}) is None
