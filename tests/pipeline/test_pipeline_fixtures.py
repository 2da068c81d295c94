"""Self-tests of the pipeline harness: StatsD shards flush exact values into InfluxDB.

Traffic goes straight to each shard, with no proxy in between, so a failure here
points at the harness (templates, prefixes, flush timing, queries), not the proxy.
"""

from __future__ import annotations

import pytest

from tests.support.pipeline import (
    flatten_shards,
    require_pipeline_tools,
    wait_until_settled,
)
from tests.support.pipeline_influxdb import InfluxDB
from tests.support.pipeline_statsd import StatsdShard
from tests.support.pipeline_traffic import send_lines

SETTLE_TIMEOUT = 10.0


@pytest.mark.pipeline
def test_shards_counter_totals(influxdb: InfluxDB, statsd_shards: list[StatsdShard]) -> None:
    expected: dict[tuple[str, str], float] = {}
    for index, shard in enumerate(statsd_shards):
        own_total = 10 * (index + 1)
        shared_total = index + 3
        lines = [f"selftest.only{index}.hits:{own_total // 2}|c"] * 2
        lines += ["selftest.shared.hits:1|c"] * shared_total
        expected[(f"selftest.only{index}.hits", shard.name)] = own_total
        expected[("selftest.shared.hits", shard.name)] = shared_total

        send_lines(shard.address, lines)

    totals = wait_until_settled(
        lambda: flatten_shards(influxdb.counter_totals()), expected, SETTLE_TIMEOUT
    )

    for key, total in expected.items():
        assert totals.get(key) == total, f"count of {key[0]} on {key[1]}"
    selftest_keys = {key for key in totals if key[0].startswith("selftest.")}
    assert selftest_keys == set(expected)


@pytest.mark.pipeline
def test_shards_timer_and_gauge(influxdb: InfluxDB, statsd_shards: list[StatsdShard]) -> None:
    timer_shard, gauge_shard = statsd_shards[1], statsd_shards[2]
    timer_lines = ["selftest.latency:10|ms", "selftest.latency:20|ms", "selftest.latency:5|ms|@0.5"]
    gauge_lines = ["selftest.level:40|g", "selftest.level:+5|g", "selftest.level:-3|g"]

    send_lines(timer_shard.address, timer_lines)
    send_lines(gauge_shard.address, gauge_lines)

    timer_counts = wait_until_settled(
        lambda: flatten_shards(influxdb.field_totals("count", "timers")),
        {("selftest.latency", timer_shard.name): 4.0},
        SETTLE_TIMEOUT,
    )
    timer_sums = influxdb.field_totals("sum", "timers")
    gauge_values = influxdb.aggregate("last", "value", "gauges")

    assert timer_counts.get(("selftest.latency", timer_shard.name)) == 4.0
    assert timer_sums.get("selftest.latency") == {timer_shard.name: 35.0}
    assert gauge_values.get("selftest.level") == {gauge_shard.name: 42.0}


def test_missing_tools_skip_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_JS", "/nonexistent/statsd/stats.js")
    monkeypatch.delenv("CI", raising=False)

    with pytest.raises(pytest.skip.Exception) as caught:
        require_pipeline_tools()

    assert "scripts/install-test-deps" in str(caught.value)


def test_missing_tools_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_JS", "/nonexistent/statsd/stats.js")
    monkeypatch.setenv("CI", "true")

    with pytest.raises(pytest.fail.Exception) as caught:
        require_pipeline_tools()

    assert "/nonexistent/statsd/stats.js" in str(caught.value)
