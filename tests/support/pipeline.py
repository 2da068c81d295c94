"""Pytest fixtures for the real pipeline: InfluxDB 1.6 fed by Etsy StatsD 0.9 shards.

`influxdb` runs influxd with a graphite listener and an empty database.
`statsd_shards` runs three StatsD servers named shard0, shard1 and shard2, which
flush into that database every second. Both are module-scoped, so tests in one module share
them and use metric names of their own. Teardown stops the shards before
InfluxDB, because influxd sometimes hangs for seconds when both stop together.

When influxd, node or the StatsD script is missing, the fixtures skip with
install instructions, or fail when the environment variable CI is "true".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.pipeline_influxdb import InfluxDB, influxd_path, run_influxdb
from tests.support.pipeline_statsd import (
    FLUSH_INTERVAL_MS,
    StatsdShard,
    node_path,
    run_statsd_shards,
    statsd_js_path,
)

SHARD_NAMES = ("shard0", "shard1", "shard2")

Key = TypeVar("Key", bound=Hashable)

# InfluxDB's graphite listener writes a batch at most 100 ms after its first point.
GRAPHITE_BATCH_DELAY = 0.1


def missing_pipeline_tools() -> list[str]:
    """Return one description per missing tool that the pipeline fixtures need."""
    missing = []
    if influxd_path() is None:
        missing.append("influxd (InfluxDB 1.6) is not on PATH")
    if node_path() is None:
        missing.append("node (Node.js) is not on PATH")
    script = statsd_js_path()
    if not script.is_file():
        missing.append(f"the Etsy StatsD server script {script} is missing (env STATSD_JS)")
    return missing


def require_pipeline_tools() -> None:
    """Skip the calling test when a tool is missing, or fail when CI is "true"."""
    missing = missing_pipeline_tools()
    if not missing:
        return
    message = (
        "pipeline tests need InfluxDB 1.6 and Etsy StatsD 0.9: "
        + "; ".join(missing)
        + ". Install them with scripts/install-test-deps."
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def wait_until_settled(
    read: Callable[[], Mapping[Key, float]],
    expected: Mapping[Key, float],
    timeout: float,
) -> dict[Key, float]:
    """Poll read() until it returns the expected values, then once more after one flush.

    Returns the last reading even when the deadline passes, so the caller's asserts
    name the values that differ. The extra reading after a match catches late extras.
    """
    deadline = time.monotonic() + timeout
    reading = dict(read())
    while not _matches(reading, expected) and time.monotonic() < deadline:
        time.sleep(0.2)
        reading = dict(read())
    if _matches(reading, expected):
        time.sleep(FLUSH_INTERVAL_MS / 1000 + GRAPHITE_BATCH_DELAY + 0.2)
        reading = dict(read())
    return reading


def _matches(reading: Mapping[Key, float], expected: Mapping[Key, float]) -> bool:
    return all(reading.get(key) == value for key, value in expected.items())


def totals_over_shards(per_shard: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Collapse {measurement: {shard: total}} into {measurement: total}."""
    return {name: sum(shards.values()) for name, shards in per_shard.items()}


def flatten_shards(per_shard: Mapping[str, Mapping[str, float]]) -> dict[tuple[str, str], float]:
    """Turn {measurement: {shard: total}} into {(measurement, shard): total}."""
    return {
        (name, shard): total
        for name, shards in per_shard.items()
        for shard, total in shards.items()
    }


@pytest.fixture(scope="module")
def pipeline_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder for configuration, state and logs of one module's pipeline processes."""
    return tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="module")
def influxdb(pipeline_workdir: Path) -> Iterator[InfluxDB]:
    """A running InfluxDB 1.6 whose graphite listener writes to an empty database."""
    require_pipeline_tools()
    with run_influxdb(pipeline_workdir) as server:
        yield server


@pytest.fixture(scope="module")
def statsd_shards(influxdb: InfluxDB, pipeline_workdir: Path) -> Iterator[list[StatsdShard]]:
    """Three healthy StatsD shards (shard0 to shard2) flushing into `influxdb` every second."""
    with run_statsd_shards(influxdb, SHARD_NAMES, pipeline_workdir) as shards:
        yield shards
