"""Schema validation of every rendered object.

Built-in kinds go through kubernetes-validate --strict for the oldest and the
newest Kubernetes version the chart supports, one process per version over
one file per values case. StatsdCluster objects are checked against the
openAPIV3Schema of the chart's own CRD, with unknown fields rejected where
the API server would prune them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart.rendering import CHART, Manifest, is_builtin, select

# Chart.yaml requires Kubernetes 1.25 or later, and 1.35 is the version of
# the Kubernetes client library in helm v4.1.4.
KUBERNETES_VERSIONS = ("1.25.0", "1.35.0")
VALIDATE_TIMEOUT = 120
_NO_SCHEMA = re.compile(r"Couldn't find schema for kind (\S+) with api version (\S+)")


def _write_cases(renders: dict[str, list[Manifest]], folder: Path) -> list[Path]:
    paths = []
    for case, manifests in renders.items():
        path = folder / f"{case}.yaml"
        path.write_text(yaml.safe_dump_all(manifests, sort_keys=False))
        paths.append(path)
    return paths


def _missing_builtin_schemas(output: str) -> list[str]:
    missing = []
    for kind, api_version in _NO_SCHEMA.findall(output):
        if is_builtin({"apiVersion": api_version, "kind": kind}):
            missing.append(f"{api_version} {kind}")
    return missing


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_builtin_objects_valid(
    renders: dict[str, list[Manifest]], tmp_path: Path, version: str
) -> None:
    paths = _write_cases(renders, tmp_path)
    command = [sys.executable, "-m", "kubernetes_validate", "-k", version, "--strict", "--quiet"]

    result = subprocess.run(
        [*command, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=VALIDATE_TIMEOUT,
        check=False,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, f"kubernetes-validate {version} failed:\n{output}"
    assert _missing_builtin_schemas(output) == [], output


def _strict(schema: Any) -> Any:
    """Copy a structural schema, rejecting the unknown fields the API server would prune."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and "additionalProperties" not in schema and not preserve:
        strict["additionalProperties"] = False
    return strict


def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    schemas = {}
    for path in sorted((CHART / "crds").glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


def test_statsdclusters_match_crd(renders: dict[str, list[Manifest]]) -> None:
    schemas = _crd_schemas()
    clusters = [m for manifests in renders.values() for m in select(manifests, "StatsdCluster")]
    assert clusters, "no values case renders a StatsdCluster"

    for cluster in clusters:
        schema = schemas.get((cluster["apiVersion"], cluster["kind"]))
        assert schema is not None, f"no CRD in crds/ serves {cluster['apiVersion']}"
        jsonschema.validate(cluster, schema, cls=jsonschema.Draft7Validator)


def test_custom_kinds_known(renders: dict[str, list[Manifest]]) -> None:
    served = {api_version for api_version, _kind in _crd_schemas()} | {"monitoring.coreos.com/v1"}
    custom = {m["apiVersion"] for ms in renders.values() for m in ms if not is_builtin(m)}

    assert custom <= served
