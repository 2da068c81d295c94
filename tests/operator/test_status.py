"""The StatsdCluster status built from an observation and a planner step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from statsd_operator.planner import Converged, Observed, PodState, ScaleStatefulSet, Wait
from statsd_operator.spec import parse_spec
from statsd_operator.status import (
    build_conditions,
    build_invalid_status,
    build_status,
    progressing_message,
)
from statsd_proxy.ringdoc import Member, RingDocument

from tests.operator.simulation import START

SPEC = parse_spec({"shards": 2, "sink": {"graphite": {"host": "g"}}})
RING = RingDocument(
    version=7,
    members=(Member("main-statsd-0", "10.0.0.1", 8125), Member("main-statsd-1", "10.0.0.2", 8125)),
    hash_key="series",
    effective_at=START,
)


def observed(*ready: bool) -> Observed:
    pods = {
        f"main-statsd-{i}": PodState(f"main-statsd-{i}", flag, f"10.0.0.{i + 1}")
        for i, flag in enumerate(ready)
    }
    return Observed(replicas=len(ready), pods=pods, ring=RING, now=START)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_converged_ready() -> None:
    status = build_status(
        cluster="main",
        spec=SPEC,
        observed=observed(True, True),
        step=Converged(),
        generation=3,
        previous={},
    )

    assert status["shards"] == 2
    assert status["readyShards"] == 2
    assert status["replicas"] == 2
    assert status["ringVersion"] == 7
    assert status["ringEffectiveAt"] == "2026-12-04T15:00:03Z"
    assert status["members"][0] == {"name": "main-statsd-0", "host": "10.0.0.1", "port": 8125}
    assert (
        status["selector"] == "app.kubernetes.io/name=statsd-shard,app.kubernetes.io/instance=main"
    )
    assert status["observedGeneration"] == 3
    assert status["reshard"] is None
    assert conditions(status)["Ready"]["status"] == "True"
    assert conditions(status)["Ready"]["reason"] == "ShardsReady"
    assert conditions(status)["Progressing"]["status"] == "False"


def test_not_ready_shard() -> None:
    status = build_status(
        cluster="main",
        spec=SPEC,
        observed=observed(True, False),
        step=Converged(),
        generation=None,
        previous={},
    )

    assert status["readyShards"] == 1
    assert "observedGeneration" not in status
    assert conditions(status)["Ready"]["reason"] == "ShardsNotReady"


def test_waiting_reshard() -> None:
    wait = Wait("Draining", "waiting until later", timedelta(seconds=4))

    status = build_status(
        cluster="main",
        spec=SPEC,
        observed=observed(True, True),
        step=wait,
        generation=None,
        previous={},
    )

    assert status["reshard"] == {
        "fromShards": 2,
        "toShards": 2,
        "phase": "Draining",
        "waitingFor": "waiting until later",
        "retryAt": "2026-12-04T15:00:07Z",
    }
    assert conditions(status)["Ready"]["reason"] == "Resharding"
    assert conditions(status)["Progressing"]["reason"] == "Draining"
    assert progressing_message(status) == "waiting until later"


def test_applied_step_progressing() -> None:
    step = ScaleStatefulSet(replicas=3, previous=2, reason="ScalingUp")

    status = build_status(
        cluster="main",
        spec=SPEC,
        observed=observed(True, True),
        step=step,
        generation=None,
        previous={},
    )

    assert status["reshard"]["phase"] == "ScalingUp"
    assert conditions(status)["Progressing"]["status"] == "True"


def test_transition_time_kept() -> None:
    earlier = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]

    kept = build_conditions(
        earlier,
        ready=("True", "A", "a"),
        progressing=("False", "B", "b"),
        now=START,
        generation=None,
    )
    moved = build_conditions(
        earlier,
        ready=("False", "A", "a"),
        progressing=("False", "B", "b"),
        now=START,
        generation=None,
    )

    assert kept[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert moved[0]["lastTransitionTime"] == "2026-12-04T15:00:03Z"


def test_invalid_status() -> None:
    status = build_invalid_status("Invalid spec: spec.port: bad", {}, 4, START)

    assert conditions(status)["Ready"]["status"] == "False"
    assert conditions(status)["Ready"]["reason"] == "InvalidSpec"
    assert conditions(status)["Progressing"]["message"] == "Invalid spec: spec.port: bad"
    assert status["observedGeneration"] == 4
    assert "ringVersion" not in status
