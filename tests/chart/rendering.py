"""Helm rendering for the chart tests: find helm, render the chart, load the YAML.

Each render of the chart is keyed by a case name: "default" for the chart's
default values and the file stem for each values file in the chart's ci/
folder. Objects come back as plain dicts in the order helm printed them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "statsd-proxy"
CI_VALUES = CHART / "ci"
RELEASE = "statsd-proxy"
NAMESPACE = "statsd"
HELM_TIMEOUT = 60

Manifest = dict[str, Any]


def find_helm() -> str | None:
    """Return the helm binary in .deps/bin, else the one on PATH, else None."""
    bundled = REPO / ".deps" / "bin" / "helm"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("helm")


def require_helm() -> str:
    """Return the helm binary; fail under CI=true when it is missing, else skip."""
    helm = find_helm()
    if helm is not None:
        return helm
    message = (
        "helm not found in .deps/bin or on PATH; run scripts/install-helm "
        "(or scripts/install-test-deps) to install it"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def case_names() -> list[str]:
    """Return "default" and the stem of every values file in the chart's ci/ folder."""
    return ["default", *sorted(path.stem for path in CI_VALUES.glob("*.yaml"))]


def values_args(case: str) -> list[str]:
    """Return the helm arguments selecting the values of ``case``."""
    if case == "default":
        return []
    return ["--values", str(CI_VALUES / f"{case}.yaml")]


def run_helm(helm: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run helm with ``args`` and return the finished process, whatever its exit code."""
    return subprocess.run(
        [helm, *args],
        capture_output=True,
        text=True,
        timeout=HELM_TIMEOUT,
        check=False,
        cwd=REPO,
    )


def template(helm: str, extra: Sequence[str] = (), *, crds: bool = False) -> str:
    """Return the YAML of ``helm template`` for the chart; raise on a helm error."""
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE, *extra]
    if crds:
        args.append("--include-crds")
    result = run_helm(helm, args)
    if result.returncode != 0:
        raise AssertionError(f"helm template {' '.join(extra)} failed:\n{result.stderr}")
    return result.stdout


def load_all(text: str) -> list[Manifest]:
    """Parse a multi-document YAML text, leaving out empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def api_group(manifest: Manifest) -> str:
    """Return the API group of an object ("" for the core group)."""
    api_version = str(manifest["apiVersion"])
    return api_version.rpartition("/")[0]


def is_builtin(manifest: Manifest) -> bool:
    """Tell whether an object's kind is built into Kubernetes.

    Built-in groups are the core group, the groups without a dot (apps,
    batch, policy, autoscaling) and those ending in ".k8s.io".
    """
    group = api_group(manifest)
    return "." not in group or group.endswith(".k8s.io")


def select(manifests: Sequence[Manifest], kind: str) -> list[Manifest]:
    """Return the objects of one kind."""
    return [manifest for manifest in manifests if manifest["kind"] == kind]


def only(manifests: Sequence[Manifest], kind: str, name: str | None = None) -> Manifest:
    """Return the one object of ``kind`` (and ``name``); fail when there is not exactly one."""
    found = [m for m in select(manifests, kind) if name is None or m["metadata"]["name"] == name]
    if len(found) != 1:
        names = [m["metadata"]["name"] for m in select(manifests, kind)]
        raise AssertionError(f"expected one {kind} named {name!r}, found {names!r}")
    return found[0]


def pod_specs(manifests: Sequence[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """Yield (workload name, pod spec) for every Deployment, DaemonSet and StatefulSet."""
    for manifest in manifests:
        if manifest["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            name = f"{manifest['kind']}/{manifest['metadata']['name']}"
            yield name, manifest["spec"]["template"]["spec"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Tell whether a matchLabels selector selects an object with ``labels``."""
    return all(labels.get(key) == value for key, value in selector.items())
