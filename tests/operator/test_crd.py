"""The StatsdCluster CRD: its shape, its schema and its agreement with the operator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from statsd_operator.planner import Converged, Observed, PodState, Wait
from statsd_operator.spec import ClusterSpec, SpecError, parse_spec
from statsd_operator.status import build_invalid_status, build_status
from statsd_proxy.ringdoc import Member, RingDocument

from tests.operator.harness import CRD_PATH
from tests.operator.simulation import START

KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return loaded


@pytest.fixture(scope="module")
def version(crd: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = crd["spec"]["versions"][0]
    return found


@pytest.fixture(scope="module")
def schema(version: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return found


def walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{key}")
    if "items" in node:
        yield from walk(node["items"], f"{path}[]")


def with_schema_defaults(node: dict[str, Any], value: Any) -> Any:
    """Fill in schema defaults, as the API server does before storing an object."""
    if not isinstance(value, dict):
        return value
    filled = dict(value)
    for key, child in node.get("properties", {}).items():
        if key not in filled and "default" in child:
            filled[key] = child["default"]
        if key in filled:
            filled[key] = with_schema_defaults(child, filled[key])
    return filled


def test_crd_identity(crd: dict[str, Any], version: dict[str, Any]) -> None:
    assert crd["metadata"]["name"] == "statsdclusters.statsdproxy.io"
    assert crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["kind"] == "StatsdCluster"
    assert crd["spec"]["names"]["shortNames"] == ["sdc"]
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True


def test_crd_valid_object(crd: dict[str, Any]) -> None:
    kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_scale_subresource(version: dict[str, Any]) -> None:
    assert version["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.shards",
            "statusReplicasPath": ".status.shards",
            "labelSelectorPath": ".status.selector",
        },
    }


def test_printer_columns(version: dict[str, Any]) -> None:
    columns = version["additionalPrinterColumns"]

    assert [c["name"] for c in columns] == ["Shards", "Ready", "Ring", "Phase", "Age"]
    assert all(c.get("description") for c in columns)


def test_spec_fields_described(schema: dict[str, Any]) -> None:
    for path, node in walk(schema["properties"]["spec"], "spec"):
        assert node.get("description"), f"{path} has no description"
        if node.get("type") == "integer":
            assert "minimum" in node, f"{path} has no minimum"


def test_status_fields_described(schema: dict[str, Any]) -> None:
    for path, node in walk(schema["properties"]["status"], "status"):
        assert node.get("description"), f"{path} has no description"


def test_defaults_match_operator(schema: dict[str, Any]) -> None:
    raw = {"sink": {"graphite": {"host": "g"}, "influxdb": {"url": "http://i:8086"}}}

    defaulted = with_schema_defaults(schema["properties"]["spec"], raw)

    assert parse_spec(defaulted) == parse_spec(raw)
    assert set(defaulted) >= {"shards", "flavor", "port", "flushIntervalSeconds", "hashKey"}


def test_default_values_agree(schema: dict[str, Any]) -> None:
    spec_schema = schema["properties"]["spec"]["properties"]
    defaults = ClusterSpec()

    assert spec_schema["shards"]["default"] == defaults.shards
    assert spec_schema["flavor"]["default"] == defaults.flavor
    assert spec_schema["port"]["default"] == defaults.port
    assert spec_schema["flushIntervalSeconds"]["default"] == defaults.flush_interval_seconds
    assert spec_schema["hashKey"]["default"] == defaults.hash_key


@pytest.mark.parametrize(
    "spec",
    [
        {"shards": 0},
        {"shards": 1001},
        {"flavor": "collectd"},
        {"hashKey": "tags"},
        {"port": 70000},
        {"flushIntervalSeconds": 0},
        {"imagePullPolicy": "Sometimes"},
        {"sink": {"graphite": {"host": "a b"}}},
        {"sink": {"graphite": {}}},
        {"sink": {"influxdb": {"url": "ftp://x"}}},
        {"podTemplate": {"labels": {"a": 1}}},
        {"podTemplate": {"args": [1]}},
        {"podTemplate": {"terminationGracePeriodSeconds": -1}},
    ],
)
def test_schema_and_operator_reject(schema: dict[str, Any], spec: dict[str, Any]) -> None:
    cluster = {"spec": spec}

    schema_errors = list(jsonschema.Draft7Validator(schema).iter_errors(cluster))

    assert schema_errors, f"the CRD schema accepts {spec!r}"
    with pytest.raises(SpecError):
        parse_spec({"sink": {"graphite": {"host": "g"}}, **spec})


def test_status_fits_schema(schema: dict[str, Any]) -> None:
    ring = RingDocument(
        version=3, members=(Member("main-statsd-0", "10.0.0.1", 8125),), effective_at=START
    )
    observed = Observed(
        replicas=2,
        pods={"main-statsd-0": PodState("main-statsd-0", True, "10.0.0.1")},
        ring=ring,
        now=START,
    )
    spec = parse_spec({"shards": 2, "sink": {"graphite": {"host": "g"}}})
    wait = Wait("WaitingForPods", "waiting for pods", timedelta(seconds=1))
    statuses = [
        build_status(
            cluster="main", spec=spec, observed=observed, step=step, generation=2, previous={}
        )
        for step in (Converged(), wait)
    ]
    statuses.append(build_invalid_status("Invalid spec: x", {}, 2, START))
    status_schema = schema["properties"]["status"]

    for status in statuses:
        present = {k: v for k, v in status.items() if v is not None}
        jsonschema.validate(present, status_schema)
        assert set(status) <= set(status_schema["properties"])
