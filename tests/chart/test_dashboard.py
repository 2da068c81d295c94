"""The Grafana dashboard: valid JSON whose queries use only metrics the proxy exports.

The exported names come from a real ``statsd-proxy run`` with a static backend
on 127.0.0.1, read from its /metrics after it has routed a few lines.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.chart.proxyproc import free_port, http_get, running_proxy
from tests.chart.rendering import CHART, Manifest, only

DASHBOARD = CHART / "dashboards" / "statsd-proxy.json"
# Labels that Prometheus adds from the scrape target, not the proxy.
TARGET_LABELS = {"namespace", "pod", "instance", "job", "service", "container"}
_METRIC = re.compile(r"\bstatsd_proxy_[a-z0-9_]+")
_GROUPED = re.compile(r"by \(([^)]*)\) \((?:rate\()?(statsd_proxy_[a-z0-9_]+)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Metric names the running proxy exports, each with the label names of its samples."""
    shard = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    shard.bind(("127.0.0.1", 0))
    shard.settimeout(5)
    listen_port = free_port(socket.SOCK_DGRAM)
    metrics_url = f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    log = tmp_path_factory.mktemp("proxy") / "proxy.log"
    args = [
        "run",
        "--backend", f"shard-0=127.0.0.1:{shard.getsockname()[1]}",
        "--listen", f"127.0.0.1:{listen_port}",
        "--metrics-listen", metrics_url.removeprefix("http://"),
        "--log-format", "json",
    ]  # fmt: skip
    with shard, running_proxy(args, metrics_url, log):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sender:
            sender.sendto(b"app.hits:1|c\nnot a line\n", ("127.0.0.1", listen_port))
        shard.recv(65535)
        text = http_get(f"{metrics_url}/metrics")[1]
    return _metric_labels(text)


def _metric_labels(text: str) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        names.setdefault(family.name, set())
        if family.type == "counter":
            names.setdefault(f"{family.name}_total", set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def _targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    """The dashboard JSON."""
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def test_proxy_exports_metrics(exported: dict[str, set[str]]) -> None:
    assert "statsd_proxy_lines_forwarded_total" in exported


def test_dashboard_metrics_exported(
    dashboard: dict[str, Any], exported: dict[str, set[str]]
) -> None:
    queried = {name for _title, expr in _targets(dashboard) for name in _METRIC.findall(expr)}

    unknown = sorted(queried - exported.keys())

    assert queried, "the dashboard queries no statsd_proxy_ metric"
    assert unknown == []


def test_dashboard_labels_exported(
    dashboard: dict[str, Any], exported: dict[str, set[str]]
) -> None:
    # A family without samples (no discovery errors with a static ring)
    # shows no labels, so only metrics with samples are checked.
    grouped = [
        (title, metric, label.strip())
        for title, expr in _targets(dashboard)
        for labels, metric in _GROUPED.findall(expr)
        for label in labels.split(",")
    ]

    unknown = [
        entry
        for entry in grouped
        if exported.get(entry[1]) and entry[2] not in exported[entry[1]] | TARGET_LABELS
    ]

    assert grouped, "no panel groups a statsd_proxy_ metric by label"
    assert unknown == []


def test_dashboard_panels_present(dashboard: dict[str, Any]) -> None:
    titles = {panel["title"] for panel in dashboard["panels"]}

    assert {
        "Lines in and out per member",
        "Lines dropped by reason",
        "Send errors per member",
        "Ring version",
        "Ring members",
        "Shard readiness",
    } <= titles


def test_dashboard_panel_ids_unique(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]

    assert len(ids) == len(set(ids))


def test_configmap_ships_dashboard(renders: dict[str, list[Manifest]]) -> None:
    configmap = only(renders["daemonset-values"], "ConfigMap", "statsd-proxy-dashboard")

    shipped = json.loads(configmap["data"]["statsd-proxy.json"])

    assert shipped == json.loads(DASHBOARD.read_text())
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_configmap_off_by_default(renders: dict[str, list[Manifest]]) -> None:
    names = [m["metadata"]["name"] for m in renders["default"] if m["kind"] == "ConfigMap"]

    assert names == []


def test_dashboard_is_yaml_safe() -> None:
    assert yaml.safe_load(DASHBOARD.read_text())["uid"] == "statsd-proxy"
