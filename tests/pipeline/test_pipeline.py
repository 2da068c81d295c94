"""End to end: traffic -> statsd-proxy -> three Etsy StatsD 0.9 shards -> InfluxDB 1.6.

One module-scoped run sends a deterministic mix through a real `statsd-proxy run`
process, waits until InfluxDB contains the expected counter totals, reads the
proxy's /metrics, stops the proxy with SIGTERM, and records everything. Each test
then checks one property of that run.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pipeline import SHARD_NAMES, totals_over_shards, wait_until_settled
from tests.support.pipeline_influxdb import InfluxDB
from tests.support.pipeline_plan import TrafficPlan, plan_traffic
from tests.support.pipeline_proxy import ProxyProcess, run_proxy
from tests.support.pipeline_statsd import StatsdShard
from tests.support.pipeline_traffic import send_lines

pytestmark = pytest.mark.pipeline

ROUND_PAUSE = 0.3
SETTLE_TIMEOUT = 15.0
SIGTERM_TIMEOUT = 5.0
PROXY_SAMPLES = (
    "statsd_proxy_datagrams_received_total",
    "statsd_proxy_lines_received_total",
    "statsd_proxy_lines_forwarded_total",
    "statsd_proxy_lines_dropped_total",
    "statsd_proxy_send_errors_total",
)

Totals = dict[str, dict[str, float]]


@dataclass
class PipelineRun:
    """What one pass of the traffic plan produced, in InfluxDB and in the proxy."""

    plan: TrafficPlan
    datagrams_sent: int
    counters: Totals
    timer_counts: Totals
    timer_sums: Totals
    gauges: Totals
    dogstatsd: dict[tuple[str, str], dict[str, float]]
    proxy_samples: dict[str, list[tuple[dict[str, str], float]]]
    exit_code: int | None
    exit_seconds: float

    def proxy_total(self, name: str, **labels: str) -> float:
        """Sum the proxy's samples called name whose labels include the given ones."""
        return sum(
            value
            for sample_labels, value in self.proxy_samples[name]
            if labels.items() <= sample_labels.items()
        )


def _send_rounds(proxy: ProxyProcess, plan: TrafficPlan) -> int:
    datagrams = 0
    for lines in plan.rounds:
        datagrams += send_lines(proxy.address, lines)
        time.sleep(ROUND_PAUSE)
    return datagrams


def _stop_with_sigterm(proxy: ProxyProcess) -> tuple[int | None, float]:
    started = time.monotonic()
    proxy.process.popen.send_signal(signal.SIGTERM)
    try:
        code: int | None = proxy.process.popen.wait(timeout=SIGTERM_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = None
    return code, time.monotonic() - started


def _dogstatsd_totals(
    influxdb: InfluxDB, plan: TrafficPlan
) -> dict[tuple[str, str], dict[str, float]]:
    return {
        (measurement, field): influxdb.field_totals(field, "counters").get(measurement, {})
        for measurement, field in plan.dogstatsd_tagged
    }


@pytest.fixture(scope="module")
def pipeline_run(
    influxdb: InfluxDB, statsd_shards: list[StatsdShard], pipeline_workdir: Path
) -> PipelineRun:
    """Send the traffic plan through the proxy once and record what arrived."""
    plan = plan_traffic()
    expected = {**plan.counters, **plan.influx_tagged}
    expected["statsd.metrics_received"] = float(plan.line_count)
    with run_proxy(statsd_shards, pipeline_workdir) as proxy:
        datagrams_sent = _send_rounds(proxy, plan)
        wait_until_settled(
            lambda: totals_over_shards(influxdb.counter_totals()), expected, SETTLE_TIMEOUT
        )
        samples = {name: proxy.samples(name) for name in PROXY_SAMPLES}
        exit_code, exit_seconds = _stop_with_sigterm(proxy)
    return PipelineRun(
        plan=plan,
        datagrams_sent=datagrams_sent,
        counters=influxdb.counter_totals(),
        timer_counts=influxdb.field_totals("count", "timers"),
        timer_sums=influxdb.field_totals("sum", "timers"),
        gauges=influxdb.aggregate("last", "value", "gauges"),
        dogstatsd=_dogstatsd_totals(influxdb, plan),
        proxy_samples=samples,
        exit_code=exit_code,
        exit_seconds=exit_seconds,
    )


def test_counters_exact_totals(pipeline_run: PipelineRun) -> None:
    totals = totals_over_shards(pipeline_run.counters)

    for name, expected in pipeline_run.plan.counters.items():
        assert totals.get(name) == expected, name


def test_counters_one_shard_each(pipeline_run: PipelineRun) -> None:
    for name in pipeline_run.plan.counters:
        shards = sorted(pipeline_run.counters.get(name, {}))

        assert len(shards) == 1, f"{name} written by {shards}"


def test_counters_spread_over_shards(pipeline_run: PipelineRun) -> None:
    series_per_shard = Counter(
        shard
        for name in pipeline_run.plan.counters
        for shard in pipeline_run.counters.get(name, {})
    )

    for shard in SHARD_NAMES:
        assert series_per_shard[shard] > 1, f"{shard} got {series_per_shard[shard]} series"


def test_timers_count_and_sum(pipeline_run: PipelineRun) -> None:
    for name, (count, value_sum) in pipeline_run.plan.timers.items():
        counts = pipeline_run.timer_counts.get(name, {})
        sums = pipeline_run.timer_sums.get(name, {})

        assert len(counts) == 1, f"{name} written by {sorted(counts)}"
        assert sum(counts.values()) == count, name
        assert sum(sums.values()) == value_sum, name


def test_gauges_last_value(pipeline_run: PipelineRun) -> None:
    for name, value in pipeline_run.plan.gauges.items():
        assert list(pipeline_run.gauges.get(name, {}).values()) == [value], name


def test_influx_tags_one_shard(pipeline_run: PipelineRun) -> None:
    for name, total in pipeline_run.plan.influx_tagged.items():
        shards = pipeline_run.counters.get(name, {})

        assert len(shards) == 1, f"{name} written by {sorted(shards)}"
        assert sum(shards.values()) == total, name


def test_influx_tag_order_same_shard(pipeline_run: PipelineRun) -> None:
    for sorted_name, swapped_name in pipeline_run.plan.influx_tag_order_pairs:
        sorted_shards = set(pipeline_run.counters.get(sorted_name, {}))
        swapped_shards = set(pipeline_run.counters.get(swapped_name, {}))

        assert sorted_shards, sorted_name
        assert sorted_shards == swapped_shards, f"{sorted_name} and {swapped_name}"


def test_dogstatsd_tags_one_shard(pipeline_run: PipelineRun) -> None:
    for key, total in pipeline_run.plan.dogstatsd_tagged.items():
        shards = pipeline_run.dogstatsd[key]

        assert len(shards) == 1, f"{key} written by {sorted(shards)}"
        assert sum(shards.values()) == total, key


def test_dogstatsd_tag_order_same_shard(pipeline_run: PipelineRun) -> None:
    measurement = "app.db.queries"
    for sorted_field, swapped_field in pipeline_run.plan.dogstatsd_tag_order_pairs:
        sorted_shards = set(pipeline_run.dogstatsd[(measurement, sorted_field)])
        swapped_shards = set(pipeline_run.dogstatsd[(measurement, swapped_field)])

        assert sorted_shards, sorted_field
        assert sorted_shards == swapped_shards, f"{sorted_field} and {swapped_field}"


def test_shards_saw_no_bad_lines(pipeline_run: PipelineRun) -> None:
    bad_lines = pipeline_run.counters.get("statsd.bad_lines_seen", {})

    for shard in SHARD_NAMES:
        assert bad_lines.get(shard) == 0.0, shard


def test_proxy_received_every_datagram(pipeline_run: PipelineRun) -> None:
    received = pipeline_run.proxy_total("statsd_proxy_datagrams_received_total", transport="udp")

    assert received == pipeline_run.datagrams_sent


def test_proxy_received_every_line(pipeline_run: PipelineRun) -> None:
    received = pipeline_run.proxy_total("statsd_proxy_lines_received_total")

    assert received == pipeline_run.plan.line_count


def test_proxy_forwarded_every_line(pipeline_run: PipelineRun) -> None:
    forwarded = pipeline_run.proxy_total("statsd_proxy_lines_forwarded_total")

    assert forwarded == pipeline_run.plan.line_count


def test_proxy_forwarded_per_member(pipeline_run: PipelineRun) -> None:
    shard_received = pipeline_run.counters.get("statsd.metrics_received", {})

    for shard in SHARD_NAMES:
        forwarded = pipeline_run.proxy_total("statsd_proxy_lines_forwarded_total", member=shard)

        assert forwarded == shard_received.get(shard), shard


def test_proxy_dropped_nothing(pipeline_run: PipelineRun) -> None:
    dropped = pipeline_run.proxy_total("statsd_proxy_lines_dropped_total")
    send_errors = pipeline_run.proxy_total("statsd_proxy_send_errors_total")

    assert dropped == 0
    assert send_errors == 0


def test_proxy_sigterm_exits_zero(pipeline_run: PipelineRun) -> None:
    assert pipeline_run.exit_code == 0, f"exit code after {pipeline_run.exit_seconds:.1f} s"
