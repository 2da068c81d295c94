"""Real ``statsd-proxy run`` processes: replicas agree, and workers switch rings together."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.sources.harness import RING_CONFIGMAP, ring_json
from tests.sources.processes import proxy_process
from tests.sources.traffic import (
    Arrival,
    Receiver,
    Shards,
    Traffic,
    background_arrivals,
    complete_round,
    misrouted,
    round_lines,
    send,
    series_of,
)
from tests.support.kube_api import KubeApi
from tests.support.kube_objects import config_map
from tests.support.pipeline_process import wait_for

SERIES = 10_000
# A datagram sent to the proxy from each of this many source ports spreads
# traffic over both workers: the kernel picks the SO_REUSEPORT socket by a
# hash of the sender's address and port.
SENDER_PORTS = 32
# Largest accepted gap between the first lines two workers send to a new
# member. With effectiveAt both switch at one wall-clock instant, so the
# measured gap is only the time until each worker routes its next datagram:
# 0.1 to 21 ms in six runs on a 2-core test machine.
SCHEDULED_SKEW = 0.25
# Without effectiveAt the supervisor pipes the ring to each worker in turn.
IMMEDIATE_SKEW = 0.5


@pytest.fixture
def five_shards() -> Iterator[Shards]:
    """Five shard receivers on 127.0.0.1, named shard-0 to shard-4."""
    started = Shards(Receiver(f"shard-{index}") for index in range(5))
    try:
        yield started
    finally:
        started.close()


def collect_round(shards: Shards, round_number: int) -> list[Arrival]:
    """Wait for a whole round of SERIES lines and return its arrivals."""
    return wait_for(
        lambda: complete_round(shards, round_number, SERIES),
        10.0,
        f"{SERIES} lines of round {round_number} at the receivers",
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one rename, so the proxy never reads half a file."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def first_by_sender(receiver: Receiver) -> dict[tuple[str, int], float]:
    """Return the first arrival time per sending socket, one socket per proxy worker."""
    first: dict[tuple[str, int], float] = {}
    for arrival in receiver.arrivals:
        first.setdefault(arrival.sender, arrival.time)
    return first


def test_replicas_route_alike(tmp_path: Path, kube_api: KubeApi, shards: Shards) -> None:
    names = sorted(shards.by_name)
    ring_file = tmp_path / "ring.json"
    ring_file.write_text(ring_json(1, shards, names))
    reversed_ring = ring_json(1, shards, list(reversed(names)))
    kube_api.create(config_map(RING_CONFIGMAP, {"ring.json": reversed_ring}))
    kubeconfig = {"KUBECONFIG": str(kube_api.kubeconfig)}
    configmap_options = ["--ring-configmap", f"default/{RING_CONFIGMAP}"]

    with (
        proxy_process(tmp_path, "proxy-file", ["--ring-file", str(ring_file)]) as first,
        proxy_process(
            tmp_path, "proxy-configmap", configmap_options, workers=2, env=kubeconfig
        ) as second,
    ):
        send(first.address, round_lines(1, SERIES))
        via_first = collect_round(shards, 1)
        send(second.address, round_lines(2, SERIES), sockets=SENDER_PORTS)
        via_second = collect_round(shards, 2)

    owner_first = {series_of(a.line): a.member for a in via_first}
    owner_second = {series_of(a.line): a.member for a in via_second}
    worker_sockets = {a.sender for a in via_second if a.member == "shard-0"}
    assert len(via_first) == SERIES
    assert len(via_second) == SERIES
    assert owner_second == owner_first
    assert set(owner_first.values()) == set(names)
    assert misrouted(via_first, names) == []
    assert len(worker_sockets) == 2


def test_workers_switch_together(tmp_path: Path, five_shards: Shards) -> None:
    ring_file = tmp_path / "ring.json"
    first_three = ["shard-0", "shard-1", "shard-2"]
    with_four = [*first_three, "shard-3"]
    write_atomically(ring_file, ring_json(1, five_shards, first_three))
    new_member = five_shards.by_name["shard-3"]
    last_member = five_shards.by_name["shard-4"]

    with (
        proxy_process(tmp_path, "proxy", ["--ring-file", str(ring_file)], workers=2) as proxy,
        Traffic(proxy.address, pause=0.002, sockets=SENDER_PORTS) as traffic,
    ):
        time.sleep(0.5)
        effective_at = datetime.now(UTC) + timedelta(seconds=2.5)
        effective_monotonic = time.monotonic() + 2.5
        write_atomically(ring_file, ring_json(2, five_shards, with_four, effective_at))
        wait_for(lambda: len(first_by_sender(new_member)) >= 2 or None, 10.0, "both workers")
        time.sleep(SCHEDULED_SKEW + 0.5)
        replaced_monotonic = time.monotonic()
        write_atomically(ring_file, ring_json(3, five_shards))
        wait_for(lambda: len(first_by_sender(last_member)) >= 2 or None, 10.0, "both workers")
        time.sleep(0.2)
        sent = traffic.stop()
        wait_for(
            lambda: len(background_arrivals(five_shards)) >= len(sent) or None,
            5.0,
            "every background line at a receiver",
        )
        # Workers report their counters to the supervisor once a second.
        version = wait_for(
            lambda: proxy.samples("statsd_proxy_ring_version") == [({}, 3.0)] or None,
            3.0,
            "ring version 3 on /metrics",
        )

    scheduled = sorted(first_by_sender(new_member).values())
    immediate = sorted(first_by_sender(last_member).values())
    settled_v2 = [
        a
        for a in background_arrivals(five_shards)
        if effective_monotonic + SCHEDULED_SKEW < a.time < replaced_monotonic
    ]
    print(f"scheduled switch skew {scheduled[-1] - scheduled[0]:.4f} s")
    print(f"immediate switch skew {immediate[-1] - immediate[0]:.4f} s")
    assert scheduled[0] >= effective_monotonic - 0.05
    assert scheduled[-1] - scheduled[0] < SCHEDULED_SKEW
    assert immediate[-1] - immediate[0] < IMMEDIATE_SKEW
    assert len(settled_v2) > 100
    assert misrouted(settled_v2, with_four) == []
    assert len(background_arrivals(five_shards)) == len(sent)
    assert version is True
