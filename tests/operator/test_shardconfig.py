"""Shard server configuration files of the built-in flavors."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib

import pytest
from statsd_operator.shardconfig import (
    build_shard_config,
    build_statsd_config,
    build_telegraf_config,
    resolve_image,
)
from statsd_operator.spec import parse_spec

STATSD_SPEC = {"sink": {"graphite": {"host": "graphite.monitoring", "port": 2013}}}
TELEGRAF_SPEC = {
    "flavor": "telegraf",
    "port": 9125,
    "flushIntervalSeconds": 30,
    "sink": {
        "influxdb": {"url": "http://influx:8086", "database": "metrics", "retentionPolicy": "week"}
    },
}
# Evaluates a config.js the way Etsy StatsD does (eval of "config = " + text).
NODE_EVAL = (
    "const fs = require('fs'); var config;"
    " const c = eval('config = ' + fs.readFileSync(0, 'utf8'));"
)


def evaluate_statsd_config(text: str, shard: str) -> dict[str, object]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed; scripts/install-test-deps installs it")
    result = subprocess.run(
        [node, "-e", NODE_EVAL + "process.stdout.write(JSON.stringify(c));"],
        input=text,
        capture_output=True,
        text=True,
        env={"STATSD_SHARD_NAME": shard},
        timeout=30,
        check=True,
    )
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


def test_statsd_config_evaluates() -> None:
    text = build_statsd_config(parse_spec(STATSD_SPEC), "main")

    config = evaluate_statsd_config(text, "main-statsd-1")

    assert config["graphite"] == {"legacyNamespace": False, "globalPrefix": "main-statsd-1"}
    assert config["graphiteHost"] == "graphite.monitoring"
    assert config["graphitePort"] == 2013
    assert config["flushInterval"] == 10000
    assert config["port"] == 8125
    assert config["mgmt_port"] == 8126
    assert config["deleteIdleStats"] is True
    assert config["backends"] == ["./backends/graphite"]


def test_statsd_config_escapes_strings() -> None:
    spec = parse_spec({"sink": {"graphite": {"host": "g"}}})
    text = build_statsd_config(spec, "main")

    assert "process.env.STATSD_SHARD_NAME" in text
    assert '"g"' in text


def test_telegraf_config_parses() -> None:
    text = build_telegraf_config(parse_spec(TELEGRAF_SPEC), "main")

    config = tomllib.loads(text)

    assert config["global_tags"] == {"shard": "${STATSD_SHARD_NAME}"}
    assert config["agent"]["interval"] == "30s"
    assert config["agent"]["flush_interval"] == "30s"
    assert config["agent"]["round_interval"] is True
    assert config["inputs"]["statsd"][0]["service_address"] == ":9125"
    assert config["inputs"]["statsd"][0]["datadog_extensions"] is True
    assert config["outputs"]["influxdb"][0]["urls"] == ["http://influx:8086"]
    assert config["outputs"]["influxdb"][0]["database"] == "metrics"
    assert config["outputs"]["influxdb"][0]["retention_policy"] == "week"
    assert config["outputs"]["health"][0]["service_address"] == "http://:8126"


def test_shard_config_keys() -> None:
    custom = parse_spec({"flavor": "custom", "image": "i", "config": "text"})

    assert list(build_shard_config(parse_spec(STATSD_SPEC), "m")) == ["config.js"]
    assert list(build_shard_config(parse_spec(TELEGRAF_SPEC), "m")) == ["telegraf.conf"]
    assert build_shard_config(custom, "m") == {"config": "text"}


def test_resolve_image() -> None:
    statsd = parse_spec(STATSD_SPEC)
    telegraf = parse_spec(TELEGRAF_SPEC)
    pinned = parse_spec({**STATSD_SPEC, "image": "mirror/statsd:1"})

    assert resolve_image(statsd, "s:1", "t:1") == "s:1"
    assert resolve_image(telegraf, "s:1", "t:1") == "t:1"
    assert resolve_image(pinned, "s:1", "t:1") == "mirror/statsd:1"
