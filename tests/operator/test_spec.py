"""Validation and defaults of the StatsdCluster spec."""

from __future__ import annotations

from typing import Any

import pytest
from statsd_operator.spec import SpecError, parse_spec

GRAPHITE = {"graphite": {"host": "graphite.monitoring"}}


def test_defaults() -> None:
    spec = parse_spec({"sink": GRAPHITE})

    assert spec.shards == 1
    assert spec.flavor == "statsd"
    assert spec.port == 8125
    assert spec.flush_interval_seconds == 10
    assert spec.hash_key == "series"
    assert spec.graphite is not None
    assert spec.graphite.port == 2003
    assert spec.image is None


def test_telegraf_sink() -> None:
    raw = {"flavor": "telegraf", "sink": {"influxdb": {"url": "http://influx:8086"}}}

    spec = parse_spec(raw)

    assert spec.influxdb is not None
    assert spec.influxdb.database == "statsd"
    assert spec.influxdb.retention_policy is None


def test_custom_flavor() -> None:
    raw = {"flavor": "custom", "image": "my/statsd:1", "config": "{}"}

    spec = parse_spec(raw)

    assert spec.config == "{}"


def test_pod_template_kept() -> None:
    template = {"labels": {"team": "obs"}, "tolerations": [{"operator": "Exists"}]}

    spec = parse_spec({"sink": GRAPHITE, "podTemplate": template})

    assert spec.pod_template == template


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("not a mapping", "spec"),
        ({"shards": 0, "sink": GRAPHITE}, "spec.shards"),
        ({"shards": True, "sink": GRAPHITE}, "spec.shards"),
        ({"shards": "3", "sink": GRAPHITE}, "spec.shards"),
        ({"flavor": "collectd"}, "spec.flavor"),
        ({"hashKey": "tags", "sink": GRAPHITE}, "spec.hashKey"),
        ({"port": 0, "sink": GRAPHITE}, "spec.port"),
        ({"port": 65536, "sink": GRAPHITE}, "spec.port"),
        ({"port": 8126, "sink": GRAPHITE}, "spec.port"),
        ({"flushIntervalSeconds": 0, "sink": GRAPHITE}, "spec.flushIntervalSeconds"),
        ({}, "spec.sink.graphite"),
        ({"sink": {"graphite": {}}}, "spec.sink.graphite.host"),
        ({"sink": {"graphite": {"host": "a b"}}}, "spec.sink.graphite.host"),
        ({"sink": {"graphite": {"host": "g", "port": -1}}}, "spec.sink.graphite.port"),
        ({"flavor": "telegraf"}, "spec.sink.influxdb"),
        (
            {"flavor": "telegraf", "sink": {"influxdb": {"url": "ftp://x"}}},
            "spec.sink.influxdb.url",
        ),
        (
            {"flavor": "telegraf", "sink": {"influxdb": {"url": "http://x", "database": "a b"}}},
            "spec.sink.influxdb.database",
        ),
        ({"flavor": "custom", "config": "{}"}, "spec.image"),
        ({"flavor": "custom", "image": "i"}, "spec.config"),
        ({"config": "{}", "sink": GRAPHITE}, "spec.config"),
        ({"imagePullPolicy": "Sometimes", "sink": GRAPHITE}, "spec.imagePullPolicy"),
        ({"resources": [], "sink": GRAPHITE}, "spec.resources"),
        ({"podTemplate": {"hostNetwork": True}, "sink": GRAPHITE}, "spec.podTemplate.hostNetwork"),
        ({"podTemplate": {"labels": {"a": 1}}, "sink": GRAPHITE}, "spec.podTemplate.labels.a"),
        ({"podTemplate": {"tolerations": {}}, "sink": GRAPHITE}, "spec.podTemplate.tolerations"),
        ({"podTemplate": {"args": [1]}, "sink": GRAPHITE}, "spec.podTemplate.args[0]"),
        (
            {"podTemplate": {"terminationGracePeriodSeconds": -1}, "sink": GRAPHITE},
            "spec.podTemplate.terminationGracePeriodSeconds",
        ),
    ],
)
def test_invalid_field(raw: Any, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(raw)

    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
