"""One level-triggered reconciliation pass over a StatsdCluster.

`reconcile` validates the whole spec, converges the Service, the shard
configuration and the StatefulSet's pod template, then repeats observe, plan,
apply until the planner returns a wait or reports that the cluster converged. It never
looks at what changed in the spec, only at what is and what should be, so the
same pass serves creation, updates, resumption after a restart and the
periodic resync.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from statsd_proxy.ringdoc import format_time

from statsd_operator import names
from statsd_operator.build import (
    Owner,
    build_config_map,
    build_service,
    build_statefulset,
)
from statsd_operator.children import ensure_object, observe, set_replicas, write_ring
from statsd_operator.kube import KubeClient, is_conflict
from statsd_operator.options import Options
from statsd_operator.planner import (
    Converged,
    Observed,
    ScaleStatefulSet,
    Step,
    Target,
    Wait,
    WriteRing,
    plan_step,
)
from statsd_operator.shardconfig import resolve_image
from statsd_operator.spec import ClusterSpec, SpecError, parse_spec
from statsd_operator.status import build_status, progressing_message

# A pass applies at most this many steps before it reports and lets kopf call
# it again; a normal reshard needs three (scale, wait, ring).
MAX_STEPS_PER_PASS = 6


# Posts a Kubernetes Event about the StatsdCluster being reconciled, from
# its type ("Normal" or "Warning"), reason and message.
EventSink = Callable[[str, str, str], None]


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of a pass: the status to write and the step it ended on."""

    status: dict[str, Any]
    step: Step


def owner_of(body: Mapping[str, Any]) -> Owner:
    """Return the owner identity of a StatsdCluster object."""
    meta = body["metadata"]
    return Owner(name=meta["name"], namespace=meta["namespace"], uid=meta.get("uid", ""))


def validate(body: Mapping[str, Any]) -> ClusterSpec:
    """Validate a StatsdCluster's name and spec; raise `SpecError` naming the field."""
    problem = names.cluster_name_problem(body["metadata"]["name"])
    if problem is not None:
        raise SpecError("metadata.name", problem)
    return parse_spec(body.get("spec"))


def build_target(name: str, spec: ClusterSpec, options: Options) -> Target:
    """Return the planner's target for a cluster."""
    return Target(
        cluster=name,
        shards=spec.shards,
        port=spec.port,
        hash_key=spec.hash_key,
        flush_interval=timedelta(seconds=spec.flush_interval_seconds),
        lead=options.ring_lead,
        drain_margin=options.drain_margin,
        poll_interval=options.poll_interval,
    )


async def reconcile(
    client: KubeClient,
    body: Mapping[str, Any],
    options: Options,
    emit: EventSink,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Result:
    """Converge one StatsdCluster and return the status to write.

    Raises `SpecError` for an invalid spec before touching any child.
    """
    spec = validate(body)
    owner = owner_of(body)
    image = resolve_image(spec, options.statsd_image, options.telegraf_image)
    await converge_children(client, owner, spec, image, emit)
    previous = body.get("status") or {}
    target = build_target(owner.name, spec, options)
    step, observed = await _drive(client, owner, spec, image, target, previous, emit, clock)
    if isinstance(step, Wait):
        logger.info("Waiting: %s", step.message)
        if step.message != progressing_message(previous):
            emit("Normal", step.reason, _capitalise(step.message))
    generation = body["metadata"].get("generation")
    status = build_status(
        cluster=owner.name,
        spec=spec,
        observed=observed,
        step=step,
        generation=generation if isinstance(generation, int) else None,
        previous=previous,
    )
    return Result(status=status, step=step)


async def converge_children(
    client: KubeClient, owner: Owner, spec: ClusterSpec, image: str, emit: EventSink
) -> None:
    """Create or update the Service and the shard configuration, and patch the
    pod template of an existing StatefulSet; the planner creates and scales it."""
    await ensure_object(client, build_service(owner, spec))
    config_result = await ensure_object(client, build_config_map(owner, spec))
    # The replica count here is a placeholder: the template patch leaves it out.
    statefulset = build_statefulset(owner, spec, image, replicas=spec.shards)
    template_result = await ensure_object(client, statefulset, create=False)
    if config_result == "updated" or template_result == "updated":
        emit(
            "Normal",
            "TemplateChanged",
            f"Shard configuration or pod template changed; StatefulSet "
            f"{names.statefulset_name(owner.name)} replaces the shard pods one at a time",
        )


async def _drive(
    client: KubeClient,
    owner: Owner,
    spec: ClusterSpec,
    image: str,
    target: Target,
    previous: Mapping[str, Any],
    emit: EventSink,
    clock: Callable[[], datetime],
) -> tuple[Step, Observed]:
    for _ in range(MAX_STEPS_PER_PASS):
        observed, ring_read = await observe(client, owner, previous, clock())
        if ring_read.problem is not None:
            emit("Warning", "InvalidRing", _capitalise(ring_read.problem))
        step = plan_step(target, observed)
        if isinstance(step, Wait | Converged):
            return step, observed
        await apply_step(client, owner, spec, image, step, emit)
    return step, observed


async def apply_step(
    client: KubeClient,
    owner: Owner,
    spec: ClusterSpec,
    image: str,
    step: ScaleStatefulSet | WriteRing,
    emit: EventSink,
) -> None:
    """Apply one planned step and post the Event that describes it."""
    statefulset = names.statefulset_name(owner.name)
    if isinstance(step, WriteRing):
        await write_ring(client, owner, step.ring)
        emit("Normal", "RingUpdated", describe_ring_change(step))
    elif step.previous is None:
        try:
            await client.create(build_statefulset(owner, spec, image, step.replicas))
        except Exception as error:
            # Another pass created it after this pass read the API, and the
            # next observation finds it.
            if not is_conflict(error):
                raise
            return
        emit("Normal", "Created", f"Created StatefulSet {statefulset} with {step.replicas} shards")
    else:
        await set_replicas(client, owner, step.replicas)
        emit("Normal", step.reason, describe_scale(statefulset, step))


def describe_scale(statefulset: str, step: ScaleStatefulSet) -> str:
    """Describe a scale step for an Event."""
    text = f"Scaled StatefulSet {statefulset} from {step.previous} to {step.replicas} replicas"
    if step.reason == "ScalingUp":
        return f"{text}; the new shards join the ring once their pods are Ready"
    return f"{text} after the leaving shards drained"


def describe_ring_change(step: WriteRing) -> str:
    """Describe a ring change for an Event: version, switch time and what changed."""
    ring = step.ring
    when = format_time(ring.effective_at) if ring.effective_at is not None else "once read"
    parts = [f"Ring version {ring.version} with {len(ring.members)} members takes effect at {when}"]
    if step.added:
        parts.append(f"added {', '.join(step.added)}")
    if step.removed:
        parts.append(f"removed {', '.join(step.removed)}")
    if step.readdressed:
        parts.append(f"new address for {', '.join(step.readdressed)}")
    if step.reason == "HashKeyChanged":
        parts.append(f"hash key is now {ring.hash_key}")
    if step.reason == "RingRestored":
        parts.append("rewritten because the ring ConfigMap was missing or invalid")
    return "; ".join(parts)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]
