"""The rendered operator: one replica, arguments its command line accepts, RBAC bound."""

from __future__ import annotations

import argparse
import os

import pytest
from statsd_operator.cli import build_parser

from tests.chart.rendering import NAMESPACE, Manifest, matches, select


def _operator(manifests: list[Manifest]) -> Manifest:
    found = [
        m
        for m in select(manifests, "Deployment")
        if m["spec"]["template"]["spec"]["containers"][0]["name"] == "operator"
    ]
    assert len(found) == 1, f"expected one operator Deployment, found {len(found)}"
    return found[0]


def _container(manifests: list[Manifest]) -> Manifest:
    container: Manifest = _operator(manifests)["spec"]["template"]["spec"]["containers"][0]
    return container


def _parse(args: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    for name in [name for name in os.environ if name.startswith("STATSD_OPERATOR_")]:
        monkeypatch.delenv(name)
    try:
        return build_parser().parse_args(args)
    except SystemExit as error:
        raise AssertionError(f"statsd-operator rejected the chart's arguments {args!r}") from error


def test_single_replica_recreate(manifests: list[Manifest]) -> None:
    spec = _operator(manifests)["spec"]

    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_runs_operator_command(manifests: list[Manifest]) -> None:
    assert _container(manifests)["command"] == ["statsd-operator"]


def test_args_accepted(manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _parse(_container(manifests)["args"], monkeypatch)

    assert parsed.all_namespaces or parsed.namespace
    assert parsed.command == "run"


def test_default_watches_all(
    renders: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _parse(_container(renders["default"])["args"], monkeypatch)

    assert parsed.all_namespaces is True


def test_namespaces_case_watched(
    renders: dict[str, list[Manifest]], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = _parse(_container(renders["telegraf-values"])["args"], monkeypatch)

    assert parsed.namespace == ["metrics", "default"]


def test_liveness_on_health_listen(
    manifests: list[Manifest], monkeypatch: pytest.MonkeyPatch
) -> None:
    container = _container(manifests)
    port = next(
        p for p in container["ports"] if p["name"] == container["livenessProbe"]["httpGet"]["port"]
    )

    parsed = _parse(container["args"], monkeypatch)

    assert parsed.liveness == f"http://0.0.0.0:{port['containerPort']}/healthz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_selector_matches_pod(manifests: list[Manifest]) -> None:
    operator = _operator(manifests)

    selector = operator["spec"]["selector"]["matchLabels"]

    assert matches(selector, operator["spec"]["template"]["metadata"]["labels"])


def test_service_account_bound(manifests: list[Manifest]) -> None:
    account = _operator(manifests)["spec"]["template"]["spec"]["serviceAccountName"]
    if not any(m["kind"] in ("ClusterRole", "Role") for m in manifests):
        pytest.skip("this values case sets rbac.create=false")
    subject = {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}

    bindings = [
        m
        for m in manifests
        if m["kind"] in ("ClusterRoleBinding", "RoleBinding") and subject in m.get("subjects", [])
    ]

    assert bindings, f"no binding grants anything to {subject!r}"
