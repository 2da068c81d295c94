"""End to end on kind: StatsD from a pod, through the proxy, to the shards and the sink.

The tests run in file order and build on each other: the cluster starts with
two shards, scales to three, then back to two. After each step every series
sent must reach the sink from exactly one shard, with its exact count.
"""

from __future__ import annotations

import collections
import json
import re
from typing import Any

import pytest

from e2e import cluster

pytestmark = pytest.mark.timeout(3600)

RING_CONFIGMAP = f"{cluster.STATSD_CLUSTER}-ring"
PROXY_ADDRESS = f"{cluster.RELEASE}.{cluster.NAMESPACE}.svc.cluster.local"
SERIES = 60
REPEATS = 5
SCALE_TIMEOUT = 420
SINK_TIMEOUT = 120
# A flushed counter reaches Graphite as "<shard pod>.counters.<name>.count <value> <time>".
_COUNT_LINE = re.compile(
    r"^(?P<shard>[a-z0-9-]+)\.counters\.(?P<name>e2e\.\S+)\.count (?P<value>\S+) "
)

SENDER = """
import socket, time
lines = [f"e2e.{run}.series{{i}}:1|c".encode() for i in range({series})]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range({repeats}):
    for start in range(0, len(lines), 20):
        sock.sendto(b"\\n".join(lines[start:start + 20]), ("{address}", 8125))
        time.sleep(0.01)
    time.sleep(0.2)
print("sent", len(lines) * {repeats})
"""


def _ring() -> dict[str, Any]:
    configmap = cluster.kubectl_json("get", "configmap", RING_CONFIGMAP)
    ring: dict[str, Any] = json.loads(configmap["data"]["ring.json"])
    return ring


def _member_names() -> list[str]:
    return sorted(member["name"] for member in _ring()["members"])


def _shard_names(count: int) -> list[str]:
    return [f"{cluster.STATSD_CLUSTER}-statsd-{i}" for i in range(count)]


def _wait_shards(count: int) -> None:
    def settled() -> bool | None:
        status = cluster.kubectl_json("get", "statsdcluster", cluster.STATSD_CLUSTER)["status"]
        statefulset = cluster.kubectl_json("get", "statefulset", f"{cluster.STATSD_CLUSTER}-statsd")
        done = (
            status.get("readyShards") == count
            and _member_names() == _shard_names(count)
            and statefulset["spec"]["replicas"] == count
        )
        return True if done else None

    cluster.wait_for(
        settled, SCALE_TIMEOUT, f"{count} ready shards in the ring and the StatefulSet"
    )


def _send(run: str) -> None:
    code = SENDER.format(run=run, series=SERIES, repeats=REPEATS, address=PROXY_ADDRESS)
    output = cluster.run_pod(f"statsd-sender-{run}", code)
    assert f"sent {SERIES * REPEATS}" in output


def _sink_counts(run: str) -> dict[str, dict[str, float]]:
    """Counts per series and shard that the sink received for one run."""
    counts: dict[str, dict[str, float]] = collections.defaultdict(
        lambda: collections.defaultdict(float)
    )
    for line in cluster.kubectl("logs", "deployment/graphite-sink", timeout=60).splitlines():
        match = _COUNT_LINE.match(line)
        if match and match["name"].startswith(f"e2e.{run}."):
            counts[match["name"]][match["shard"]] += float(match["value"])
    return counts


def _wait_sink(run: str) -> dict[str, dict[str, float]]:
    def complete() -> dict[str, dict[str, float]] | None:
        counts = _sink_counts(run)
        totals = [sum(shards.values()) for shards in counts.values()]
        return counts if len(counts) == SERIES and all(t >= REPEATS for t in totals) else None

    return cluster.wait_for(complete, SINK_TIMEOUT, f"all {SERIES} series of run {run} in the sink")


def _check_run(run: str, shard_count: int) -> None:
    counts = _wait_sink(run)
    shards_per_series = {name: sorted(shards) for name, shards in counts.items()}
    used = {shard for shards in counts.values() for shard in shards}

    assert all(len(shards) == 1 for shards in shards_per_series.values()), shards_per_series
    assert all(sum(shards.values()) == REPEATS for shards in counts.values()), counts
    assert used == set(_shard_names(shard_count))


def test_shards_ready(release: str) -> None:
    _wait_shards(2)

    ring = _ring()

    assert [m["name"] for m in sorted(ring["members"], key=lambda m: m["name"])] == _shard_names(2)


def test_proxies_ready(release: str) -> None:
    output = cluster.kubectl(
        "rollout", "status", f"deployment/{cluster.RELEASE}", "--timeout=180s", timeout=200
    )

    assert "successfully rolled out" in output


def test_lines_reach_sink(release: str) -> None:
    _send("two")

    _check_run("two", 2)


def test_scale_up(release: str) -> None:
    version = _ring()["version"]

    cluster.kubectl("scale", f"statsdcluster/{cluster.STATSD_CLUSTER}", "--replicas=3")
    _wait_shards(3)
    _send("three")

    assert _ring()["version"] > version
    _check_run("three", 3)


def test_scale_down(release: str) -> None:
    version = _ring()["version"]

    cluster.kubectl("patch", "statsdcluster", cluster.STATSD_CLUSTER, "--type=merge",
                    "--patch", '{"spec": {"shards": 2}}')  # fmt: skip
    _wait_shards(2)
    _send("back")

    assert _ring()["version"] > version
    _check_run("back", 2)


def test_proxies_follow_ring(release: str) -> None:
    pods = cluster.kubectl_json(
        "get",
        "pods",
        "-l",
        f"app.kubernetes.io/instance={cluster.RELEASE},app.kubernetes.io/name=statsd-proxy",
    )
    code = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9102/metrics').read().decode())"
    version = _ring()["version"]

    metrics = [
        cluster.kubectl("exec", pod["metadata"]["name"], "-c", "proxy", "--", "python", "-c", code)
        for pod in pods["items"]
    ]

    assert pods["items"], "no proxy pods found"
    assert all(f"statsd_proxy_ring_version {float(version)}" in text for text in metrics)
    assert all("statsd_proxy_ring_members 2.0" in text for text in metrics)
