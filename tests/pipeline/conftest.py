"""Fixtures for the tests that run real StatsD shards and InfluxDB."""

from tests.support.pipeline import influxdb, pipeline_workdir, statsd_shards

__all__ = ["influxdb", "pipeline_workdir", "statsd_shards"]
