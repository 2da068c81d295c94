"""The HTTP endpoints: /metrics, /healthz and /readyz."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from statsd_proxy.metrics import Heartbeat, MetricsServer
from statsd_proxy.stats import ProxyStats


class ReadyFlag:
    def __init__(self) -> None:
        self.value = False

    def __call__(self) -> bool:
        return self.value


@pytest.fixture
def served() -> Iterator[tuple[MetricsServer, ProxyStats, ReadyFlag]]:
    stats = ProxyStats()
    ready = ReadyFlag()
    server = MetricsServer("127.0.0.1", 0, stats.snapshot, ready)
    server.start()
    try:
        yield server, stats, ready
    finally:
        server.stop()


def get(server: MetricsServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_readyz_follows_ring(served: tuple[MetricsServer, ProxyStats, ReadyFlag]) -> None:
    server, _, ready = served

    before = get(server, "/readyz")[0]
    ready.value = True
    after = get(server, "/readyz")[0]

    assert before == 503
    assert after == 200


def test_unknown_path_404(served: tuple[MetricsServer, ProxyStats, ReadyFlag]) -> None:
    assert get(served[0], "/nope")[0] == 404


def test_metrics_reflect_counters(served: tuple[MetricsServer, ProxyStats, ReadyFlag]) -> None:
    server, stats, _ = served
    stats.lines_received = 12
    stats.lines_invalid = 2
    stats.member("shard-0").lines_forwarded = 10
    stats.member("shard-0").send_errors = 3
    stats.count_discovery_error("api")
    stats.ring_version = 4

    _, body = get(server, "/metrics")

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert samples[("statsd_proxy_lines_received_total", ())] == 12
    assert samples[("statsd_proxy_lines_dropped_total", (("reason", "invalid"),))] == 2
    assert samples[("statsd_proxy_lines_forwarded_total", (("member", "shard-0"),))] == 10
    assert samples[("statsd_proxy_send_errors_total", (("member", "shard-0"),))] == 3
    assert samples[("statsd_proxy_discovery_errors_total", (("kind", "api"),))] == 1
    assert samples[("statsd_proxy_ring_version", ())] == 4
    assert samples[("statsd_proxy_unready_policy", (("policy", "hold"),))] == 1


def test_healthz_fails_when_loop_stalls() -> None:
    now = [100.0]
    heartbeat = Heartbeat(limit=30.0, clock=lambda: now[0])
    server = MetricsServer("127.0.0.1", 0, ProxyStats().snapshot, lambda: True, heartbeat)
    server.start()
    try:
        healthy = get(server, "/healthz")
        now[0] += 45.0
        stalled = get(server, "/healthz")
        heartbeat.beat()
        recovered = get(server, "/healthz")
    finally:
        server.stop()

    assert healthy[0] == 200
    assert stalled == (503, "event loop has not run for 45 s\n")
    assert recovered[0] == 200
