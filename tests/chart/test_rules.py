"""Cross-key checks of the chart: each failure names the key, and a --set that fixes it."""

from __future__ import annotations

import pytest

from tests.chart.rendering import CHART, NAMESPACE, run_helm

CLUSTER = ["--set", "statsdCluster.create=true"]
GRAPHITE = ["--set", "statsdCluster.sink.graphite.host=graphite"]

RULES = {
    "watch-namespace": (
        [
            *CLUSTER,
            *GRAPHITE,
            "--set",
            "operator.watch.scope=namespaces",
            "--set",
            "operator.watch.namespaces={team-a}",
        ],
        "operator.watch.namespaces",
    ),
    "local-traffic": (
        ["--set", "proxy.service.internalTrafficPolicy=Local"],
        "proxy.service.internalTrafficPolicy",
    ),
    "metrics-port": (
        ["--set", "proxy.tcp=true", "--set", "proxy.metricsPort=8125"],
        "proxy.metricsPort",
    ),
    "egress-api": (
        ["--set", "networkPolicy.enabled=true", "--set", "networkPolicy.egress.enabled=true"],
        "networkPolicy.egress.apiServerCIDRs",
    ),
    "custom-image": (
        [*CLUSTER, "--set", "statsdCluster.flavor=custom"],
        "statsdCluster.image",
    ),
    "custom-config": (
        [*CLUSTER, "--set", "statsdCluster.flavor=custom", "--set", "statsdCluster.image=x:1"],
        "statsdCluster.config",
    ),
    "statsd-sink": (CLUSTER, "statsdCluster.sink.graphite.host"),
    "telegraf-sink": (
        [*CLUSTER, "--set", "statsdCluster.flavor=telegraf"],
        "statsdCluster.sink.influxdb.url",
    ),
    "config-unused": (
        [*CLUSTER, *GRAPHITE, "--set", "statsdCluster.config=x"],
        "statsdCluster.config",
    ),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_fails_render(helm: str, rule: str) -> None:
    args, key = RULES[rule]

    result = run_helm(helm, ["template", "r", str(CHART), "--namespace", NAMESPACE, *args])

    assert result.returncode != 0, f"{rule}: helm template succeeded"
    assert f"{key}: " in result.stderr
    assert "--set" in result.stderr


def test_watch_rule_names_namespace(helm: str) -> None:
    args, _key = RULES["watch-namespace"]

    result = run_helm(helm, ["template", "r", str(CHART), "--namespace", NAMESPACE, *args])

    assert f"--set operator.watch.namespaces={{team-a,{NAMESPACE}}}" in result.stderr


def test_watch_rule_passes_fix(helm: str) -> None:
    args, _key = RULES["watch-namespace"]
    fixed = [*args, "--set", f"operator.watch.namespaces={{team-a,{NAMESPACE}}}"]

    result = run_helm(helm, ["template", "r", str(CHART), "--namespace", NAMESPACE, *fixed])

    assert result.returncode == 0, result.stderr
