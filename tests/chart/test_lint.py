"""helm lint --strict and helm template over every values case."""

from __future__ import annotations

from tests.chart.rendering import CHART, Manifest, run_helm, values_args


def test_lint_strict(helm: str, case: str) -> None:
    result = run_helm(helm, ["lint", "--strict", str(CHART), *values_args(case)])

    assert result.returncode == 0, f"helm lint --strict failed for {case}:\n{result.stdout}"


def test_template_renders_workloads(manifests: list[Manifest]) -> None:
    kinds = {manifest["kind"] for manifest in manifests}

    assert {"Deployment", "Service"} <= kinds


def test_template_names_fit_labels(manifests: list[Manifest]) -> None:
    long_names = [
        m["metadata"]["name"]
        for m in manifests
        if m["kind"] != "CustomResourceDefinition" and len(m["metadata"]["name"]) > 63
    ]

    assert long_names == []


def test_template_names_unique(manifests: list[Manifest]) -> None:
    keys = [(m["kind"], m["metadata"].get("namespace"), m["metadata"]["name"]) for m in manifests]

    assert len(keys) == len(set(keys))
