"""Pure builders of the StatsdCluster status.

Besides reporting, the status keeps the last written ring (``ringVersion``,
``ringEffectiveAt``, ``members``), so that the operator can write the ring
again with a higher version if the ring ConfigMap is lost. ``reshard``
describes the step in progress and what it waits for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from statsd_proxy.ringdoc import format_time

from statsd_operator import names
from statsd_operator.planner import Converged, Observed, Step, Wait
from statsd_operator.spec import ClusterSpec


def build_status(
    *,
    cluster: str,
    spec: ClusterSpec,
    observed: Observed,
    step: Step,
    generation: int | None,
    previous: Mapping[str, Any],
) -> dict[str, Any]:
    """Build the status from the last observation and the step the planner ended on."""
    ring = observed.ring
    members = ring.members if ring is not None else ()
    wanted = {names.pod_name(cluster, i) for i in range(spec.shards)}
    ready = sum(
        1
        for member in members
        if member.name in wanted
        and member.name in observed.pods
        and observed.pods[member.name].ready
    )
    status: dict[str, Any] = {
        "shards": len(members),
        "readyShards": ready,
        "replicas": observed.replicas or 0,
        "ringVersion": ring.version if ring is not None else 0,
        "ringEffectiveAt": _time(ring.effective_at if ring is not None else None),
        "members": [{"name": m.name, "host": m.host, "port": m.port} for m in members],
        "selector": names.selector_string(cluster),
        "reshard": build_reshard(spec, len(members), step, observed.now),
        "conditions": build_conditions(
            previous.get("conditions") or [],
            ready=_ready_condition(spec, ready, step, ring.version if ring else 0),
            progressing=_progressing_condition(step),
            now=observed.now,
            generation=generation,
        ),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def build_invalid_status(
    message: str, previous: Mapping[str, Any], generation: int | None, now: datetime
) -> dict[str, Any]:
    """Build the status of a cluster whose spec is invalid; other fields stay as they are."""
    condition = ("False", "InvalidSpec", message)
    status: dict[str, Any] = {
        "conditions": build_conditions(
            previous.get("conditions") or [],
            ready=condition,
            progressing=condition,
            now=now,
            generation=generation,
        ),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def build_reshard(
    spec: ClusterSpec, ring_size: int, step: Step, now: datetime
) -> dict[str, Any] | None:
    """Describe the reshard step in progress, or None (which clears it) when converged."""
    if isinstance(step, Converged):
        return None
    reshard: dict[str, Any] = {
        "fromShards": ring_size,
        "toShards": spec.shards,
        "phase": step.reason,
    }
    if isinstance(step, Wait):
        reshard["waitingFor"] = step.message
        reshard["retryAt"] = format_time(now + step.delay)
    return reshard


def build_conditions(
    previous: Sequence[Mapping[str, Any]],
    *,
    ready: tuple[str, str, str],
    progressing: tuple[str, str, str],
    now: datetime,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Build the Ready and Progressing conditions as (status, reason, message) triples.

    ``lastTransitionTime`` changes only when a condition's status changes.
    """
    earlier = {c.get("type"): c for c in previous if isinstance(c, Mapping)}
    conditions = []
    for kind, (state, reason, message) in (("Ready", ready), ("Progressing", progressing)):
        old = earlier.get(kind) or {}
        changed = old.get("status") != state or not old.get("lastTransitionTime")
        condition: dict[str, Any] = {
            "type": kind,
            "status": state,
            "reason": reason,
            "message": message,
            "lastTransitionTime": format_time(now) if changed else old["lastTransitionTime"],
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        conditions.append(condition)
    return conditions


def progressing_message(status: Mapping[str, Any]) -> str | None:
    """Return the message of the Progressing condition in a status, if any."""
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and condition.get("type") == "Progressing":
            message = condition.get("message")
            return message if isinstance(message, str) else None
    return None


def _ready_condition(
    spec: ClusterSpec, ready: int, step: Step, version: int
) -> tuple[str, str, str]:
    counts = f"{ready} of {spec.shards} shards are Ready in ring version {version}"
    if not isinstance(step, Converged):
        return ("False", "Resharding", f"{counts}; resharding: {step.reason}")
    if ready < spec.shards:
        return ("False", "ShardsNotReady", counts)
    return ("True", "ShardsReady", counts)


def _progressing_condition(step: Step) -> tuple[str, str, str]:
    if isinstance(step, Converged):
        return ("False", "Converged", "the ring and the StatefulSet match the spec")
    if isinstance(step, Wait):
        return ("True", step.reason, step.message)
    return ("True", step.reason, f"step {step.reason} applied; looking again")


def _time(moment: datetime | None) -> str | None:
    return format_time(moment) if moment is not None else None
