"""The rendered proxy: its arguments, RBAC, selectors, ports and probes."""

from __future__ import annotations

import argparse
import os

import pytest
from statsd_proxy.cli import build_parser, resolve_environment

from tests.chart.rendering import NAMESPACE, RELEASE, Manifest, matches, only, select


def _proxy_workload(manifests: list[Manifest]) -> Manifest:
    workloads = [
        m
        for m in manifests
        if m["kind"] in ("Deployment", "DaemonSet")
        and m["spec"]["template"]["spec"]["containers"][0]["name"] == "proxy"
    ]
    assert len(workloads) == 1, f"expected one proxy workload, found {len(workloads)}"
    return workloads[0]


def _proxy_container(manifests: list[Manifest]) -> Manifest:
    container: Manifest = _proxy_workload(manifests)["spec"]["template"]["spec"]["containers"][0]
    return container


def _parse_run(args: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    for name in [name for name in os.environ if name.startswith("STATSD_PROXY_")]:
        monkeypatch.delenv(name)
    try:
        parsed = build_parser().parse_args(args)
        resolve_environment(parsed)
        return parsed
    except SystemExit as error:
        raise AssertionError(f"statsd-proxy rejected the chart's arguments {args!r}") from error


def _ring_configmap(manifests: list[Manifest]) -> tuple[str, str]:
    prefix = "--ring-configmap="
    args = [arg for arg in _proxy_container(manifests)["args"] if arg.startswith(prefix)]
    assert len(args) == 1, f"expected one {prefix} argument, found {args!r}"
    namespace, _, name = args[0].removeprefix(prefix).partition("/")
    return namespace, name


def _port(container: Manifest, name: str) -> Manifest:
    ports = [port for port in container["ports"] if port["name"] == name]
    assert len(ports) == 1, f"expected one container port named {name!r}"
    return ports[0]


def test_args_accepted(manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    container = _proxy_container(manifests)

    parsed = _parse_run(container["args"], monkeypatch)

    assert parsed.command == "run"


def test_args_single_source(manifests: list[Manifest]) -> None:
    args = _proxy_container(manifests)["args"]
    sources = ("--backend", "--ring-file", "--ring-endpoints", "--ring-configmap")

    chosen = [arg for arg in args if arg.split("=")[0] in sources]

    assert len(chosen) == 1


def test_default_ring_configmap(renders: dict[str, list[Manifest]]) -> None:
    ring = _ring_configmap(renders["default"])

    assert ring == (NAMESPACE, "main-ring")


def test_role_reads_ring_only(manifests: list[Manifest]) -> None:
    roles = [m for m in select(manifests, "Role") if m["metadata"]["name"].endswith("ring-reader")]
    if not roles:
        pytest.skip("this values case sets rbac.create=false")
    namespace, name = _ring_configmap(manifests)

    role = roles[0]

    assert role["metadata"]["namespace"] == namespace
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [name],
            "verbs": ["get", "list", "watch"],
        }
    ]


def test_role_binding_subject(manifests: list[Manifest]) -> None:
    role = next(
        (m for m in select(manifests, "Role") if "ring-reader" in m["metadata"]["name"]), None
    )
    if role is None:
        pytest.skip("this values case sets rbac.create=false")
    pod = _proxy_workload(manifests)["spec"]["template"]["spec"]

    binding = only(manifests, "RoleBinding", role["metadata"]["name"])

    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod["serviceAccountName"], "namespace": NAMESPACE}
    ]


def test_no_cluster_role_for_proxy(manifests: list[Manifest]) -> None:
    pod = _proxy_workload(manifests)["spec"]["template"]["spec"]
    account = pod["serviceAccountName"]

    bound = [
        m["metadata"]["name"]
        for m in select(manifests, "ClusterRoleBinding")
        if any(subject.get("name") == account for subject in m.get("subjects", []))
    ]

    assert bound == []


def test_workload_selector_matches_pods(manifests: list[Manifest]) -> None:
    workload = _proxy_workload(manifests)

    selector = workload["spec"]["selector"]["matchLabels"]

    assert matches(selector, workload["spec"]["template"]["metadata"]["labels"])


def test_service_selects_proxy_only(manifests: list[Manifest]) -> None:
    proxy_labels = _proxy_workload(manifests)["spec"]["template"]["metadata"]["labels"]
    others = [
        m["spec"]["template"]["metadata"]["labels"]
        for m in manifests
        if m["kind"] in ("Deployment", "DaemonSet") and m is not _proxy_workload(manifests)
    ]

    selector = only(manifests, "Service")["spec"]["selector"]

    assert matches(selector, proxy_labels)
    assert not any(matches(selector, labels) for labels in others)


def test_pdb_selects_proxy(manifests: list[Manifest]) -> None:
    budgets = select(manifests, "PodDisruptionBudget")
    if not budgets:
        pytest.skip("this values case disables the PodDisruptionBudget")
    labels = _proxy_workload(manifests)["spec"]["template"]["metadata"]["labels"]

    selector = budgets[0]["spec"]["selector"]["matchLabels"]

    assert matches(selector, labels)


def test_network_policy_selects_proxy(manifests: list[Manifest]) -> None:
    policies = select(manifests, "NetworkPolicy")
    if not policies:
        pytest.skip("this values case has no NetworkPolicy")
    container = _proxy_container(manifests)
    labels = _proxy_workload(manifests)["spec"]["template"]["metadata"]["labels"]
    statsd_port = _port(container, "statsd")["containerPort"]

    policy = policies[0]
    admitted = {
        (p["port"], p["protocol"]) for rule in policy["spec"]["ingress"] for p in rule["ports"]
    }

    assert matches(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert (statsd_port, "UDP") in admitted
    assert (_port(container, "metrics")["containerPort"], "TCP") in admitted


def test_service_monitor_selects_service(manifests: list[Manifest]) -> None:
    monitors = select(manifests, "ServiceMonitor")
    if not monitors:
        pytest.skip("this values case has no ServiceMonitor")
    service = only(manifests, "Service")
    port_names = {port["name"] for port in service["spec"]["ports"]}

    monitor = monitors[0]

    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert {endpoint["port"] for endpoint in monitor["spec"]["endpoints"]} <= port_names


def test_ports_match_proxy_defaults(
    renders: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = _parse_run(["run", "--backend", "a=127.0.0.1:8125"], monkeypatch)
    container = _proxy_container(renders["default"])

    statsd = _port(container, "statsd")
    metrics = _port(container, "metrics")

    assert statsd == {"name": "statsd", "containerPort": defaults.listen.port, "protocol": "UDP"}
    assert metrics["containerPort"] == defaults.metrics_listen.port


def test_args_match_container_ports(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _proxy_container(manifests)

    parsed = _parse_run(container["args"], monkeypatch)

    assert parsed.listen.port == _port(container, "statsd")["containerPort"]
    assert parsed.metrics_listen.port == _port(container, "metrics")["containerPort"]


def test_service_ports_target_names(manifests: list[Manifest]) -> None:
    container = _proxy_container(manifests)
    container_ports = {(port["name"], port["protocol"]) for port in container["ports"]}

    service_ports = only(manifests, "Service")["spec"]["ports"]

    assert {(p["targetPort"], p["protocol"]) for p in service_ports} <= container_ports


def test_tcp_port_follows_flag(manifests: list[Manifest]) -> None:
    container = _proxy_container(manifests)
    protocols = {
        p["protocol"]
        for p in only(manifests, "Service")["spec"]["ports"]
        if p["name"].startswith("statsd")
    }

    tcp_flag = "--tcp" in container["args"]

    assert ("TCP" in protocols) == tcp_flag


def test_default_service_udp_8125(renders: dict[str, list[Manifest]]) -> None:
    service = only(renders["default"], "Service", RELEASE)

    ports = [(p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]]

    assert ("statsd", 8125, "UDP") in ports


def test_probes_use_health_paths(manifests: list[Manifest]) -> None:
    container = _proxy_container(manifests)

    liveness = container["livenessProbe"]["httpGet"]
    readiness = container["readinessProbe"]["httpGet"]

    assert liveness == {"path": "/healthz", "port": "metrics"}
    assert readiness == {"path": "/readyz", "port": "metrics"}


def test_daemonset_case_uses_daemonset(renders: dict[str, list[Manifest]]) -> None:
    workload = _proxy_workload(renders["daemonset-values"])

    assert workload["kind"] == "DaemonSet"
    assert "replicas" not in workload["spec"]


def test_daemonset_has_no_pdb(renders: dict[str, list[Manifest]]) -> None:
    budgets = select(renders["daemonset-values"], "PodDisruptionBudget")

    assert budgets == []


def test_pdb_takes_percentage(renders: dict[str, list[Manifest]]) -> None:
    budget = only(renders["telegraf-values"], "PodDisruptionBudget")

    assert budget["spec"]["maxUnavailable"] == "25%"
