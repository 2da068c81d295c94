"""Documentation of values.yaml and its agreement with values.schema.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import yaml

from tests.chart.rendering import CHART, Manifest, run_helm, template
from tests.chart.valuesdoc import readme_table, scan_values, values_table


def _undocumented_leaves() -> list[str]:
    keys = scan_values()
    missing = []
    for index, key in enumerate(keys):
        ancestors = [k for k in keys[:index] if key.path.startswith(k.path + ".")]
        covered = key.documented or any(k.documented for k in ancestors)
        if key.children == 0 and not covered:
            missing.append(key.path)
    return missing


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def _schema_properties(
    node: dict[str, Any], path: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, child in node.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from _schema_properties(child, child_path)


def _value_paths(values: dict[str, Any], schema: dict[str, Any], path: str = "") -> Iterator[str]:
    for name, value in values.items():
        child_path = f"{path}.{name}" if path else name
        yield child_path
        child_schema = schema.get("properties", {}).get(name, {})
        if isinstance(value, dict) and "properties" in child_schema:
            yield from _value_paths(value, child_schema, child_path)


def test_values_documented() -> None:
    missing = _undocumented_leaves()

    assert missing == []


def test_values_scan_finds_keys() -> None:
    paths = {key.path for key in scan_values()}

    assert {"proxy.service.port", "statsdCluster.sink", "operator.watch.scope"} <= paths


def test_schema_descriptions() -> None:
    missing = [path for path, node in _schema_properties(_schema()) if not node.get("description")]

    assert missing == []


def test_schema_covers_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema_paths = {path for path, _node in _schema_properties(_schema())}

    unknown = [path for path in _value_paths(values, _schema()) if path not in schema_paths]

    assert unknown == []


def test_values_cover_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    value_paths = set(_value_paths(values, _schema()))
    optional = {"global"}

    absent = [
        path
        for path, _node in _schema_properties(_schema())
        if path not in value_paths
        and path.split(".")[0] not in optional
        and not path.startswith(("imagePullSecrets.", "statsdCluster.sink."))
    ]

    assert absent == []


def test_schema_rejects_unknown_key(helm: str) -> None:
    result = run_helm(helm, ["template", "x", str(CHART), "--set", "proxy.replica=3"])

    assert result.returncode != 0
    assert "replica" in result.stderr


def test_schema_rejects_bad_enum(helm: str) -> None:
    result = run_helm(helm, ["template", "x", str(CHART), "--set", "proxy.kind=StatefulSet"])

    assert result.returncode != 0
    assert "/proxy/kind" in result.stderr


def test_default_has_no_cluster(helm: str) -> None:
    manifests: list[Manifest] = list(yaml.safe_load_all(template(helm)))

    kinds = {m["kind"] for m in manifests if m}

    assert "StatsdCluster" not in kinds


def test_readme_table_current() -> None:
    expected = values_table()

    committed = readme_table()

    assert committed == expected, (
        "README values table is stale; run python -m tests.chart.valuesdoc"
    )
