"""Manifests of the children of a StatsdCluster."""

from __future__ import annotations

from typing import Any

from statsd_operator import names
from statsd_operator.build import (
    Owner,
    build_config_map,
    build_owner_reference,
    build_ring_config_map,
    build_service,
    build_statefulset,
    spec_hash,
)
from statsd_operator.spec import parse_spec
from statsd_proxy.ringdoc import Member, RingDocument, parse_ring

OWNER = Owner(name="main", namespace="metrics", uid="uid-1")
SINK = {"graphite": {"host": "graphite"}}


def statefulset(replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return build_statefulset(OWNER, parse_spec({"sink": SINK, **spec}), "statsd:1", replicas)


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
    return spec


def test_owner_reference() -> None:
    reference = build_owner_reference(OWNER)

    assert reference == {
        "apiVersion": "statsdproxy.io/v1alpha1",
        "kind": "StatsdCluster",
        "name": "main",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_children_owned() -> None:
    spec = parse_spec({"sink": SINK})
    ring = RingDocument(version=1, members=(Member("main-statsd-0", "10.0.0.1", 8125),))
    children = [
        build_service(OWNER, spec),
        build_config_map(OWNER, spec),
        build_statefulset(OWNER, spec, "statsd:1", 3),
        build_ring_config_map(OWNER, ring),
    ]

    for child in children:
        assert child["metadata"]["namespace"] == "metrics"
        assert child["metadata"]["ownerReferences"] == [build_owner_reference(OWNER)]
        assert child["metadata"]["labels"][names.LABEL_INSTANCE] == "main"


def test_service_headless() -> None:
    service = build_service(OWNER, parse_spec({"sink": SINK, "port": 9125}))

    assert service["metadata"]["name"] == "main-statsd"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"] == names.selector_labels("main")
    assert service["spec"]["ports"] == [
        {"name": "statsd", "protocol": "UDP", "port": 9125, "targetPort": "statsd"}
    ]


def test_ring_config_map() -> None:
    ring = RingDocument(
        version=4, members=(Member("main-statsd-0", "10.0.0.1", 8125),), hash_key="series"
    )

    config_map = build_ring_config_map(OWNER, ring)

    assert config_map["metadata"]["name"] == "main-ring"
    assert parse_ring(config_map["data"]["ring.json"]) == ring


def test_statefulset_shape() -> None:
    manifest = statefulset(replicas=4)

    assert manifest["metadata"]["name"] == "main-statsd"
    assert manifest["spec"]["replicas"] == 4
    assert manifest["spec"]["serviceName"] == "main-statsd"
    assert manifest["spec"]["podManagementPolicy"] == "Parallel"
    assert manifest["spec"]["selector"] == {"matchLabels": names.selector_labels("main")}
    template_labels = manifest["spec"]["template"]["metadata"]["labels"]
    assert names.selector_labels("main").items() <= template_labels.items()


def test_statsd_container() -> None:
    container = pod_spec(statefulset())["containers"][0]

    assert container["image"] == "statsd:1"
    assert container["command"] == ["node", "stats.js", "/etc/statsd/config.js"]
    assert container["workingDir"] == "/usr/src/app"
    assert container["ports"] == [
        {"name": "statsd", "containerPort": 8125, "protocol": "UDP"},
        {"name": "admin", "containerPort": 8126, "protocol": "TCP"},
    ]
    assert container["readinessProbe"]["tcpSocket"] == {"port": "admin"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "config", "mountPath": "/etc/statsd", "readOnly": True} in container[
        "volumeMounts"
    ]


def test_shard_name_from_downward_api() -> None:
    container = pod_spec(statefulset())["containers"][0]

    assert container["env"][0] == {
        "name": "STATSD_SHARD_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    }


def test_pod_security_defaults() -> None:
    security = pod_spec(statefulset())["securityContext"]

    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_pod_template_overrides() -> None:
    overrides = {
        "labels": {"team": "obs", names.LABEL_INSTANCE: "hijack"},
        "annotations": {"note": "x"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"operator": "Exists"}],
        "priorityClassName": "high",
        "env": [{"name": "EXTRA", "value": "1"}],
        "args": ["--verbose"],
        "securityContext": {"runAsUser": 1000},
        "terminationGracePeriodSeconds": 5,
    }

    manifest = statefulset(podTemplate=overrides, resources={"limits": {"memory": "1Gi"}})

    template = manifest["spec"]["template"]
    spec = template["spec"]
    container = spec["containers"][0]
    assert template["metadata"]["labels"]["team"] == "obs"
    assert template["metadata"]["labels"][names.LABEL_INSTANCE] == "main"
    assert template["metadata"]["annotations"]["note"] == "x"
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["priorityClassName"] == "high"
    assert spec["securityContext"] == {"runAsUser": 1000}
    assert spec["terminationGracePeriodSeconds"] == 5
    assert container["env"][-1] == {"name": "EXTRA", "value": "1"}
    assert container["args"] == ["--verbose"]
    assert container["resources"] == {"limits": {"memory": "1Gi"}}


def test_custom_flavor_container() -> None:
    spec = parse_spec(
        {"flavor": "custom", "image": "me/statsd:2", "config": "{}", "imagePullPolicy": "Always"}
    )

    container = build_statefulset(OWNER, spec, "me/statsd:2", 1)["spec"]["template"]["spec"][
        "containers"
    ][0]

    assert "command" not in container
    assert "readinessProbe" not in container
    assert container["imagePullPolicy"] == "Always"
    assert [port["name"] for port in container["ports"]] == ["statsd"]


def test_config_hash_follows_config() -> None:
    first = statefulset()
    second = statefulset(flushIntervalSeconds=20)

    key = names.ANNOTATION_CONFIG_HASH
    first_hash = first["spec"]["template"]["metadata"]["annotations"][key]
    second_hash = second["spec"]["template"]["metadata"]["annotations"][key]
    assert first_hash != second_hash


def test_spec_hash_ignores_replicas() -> None:
    key = names.ANNOTATION_SPEC_HASH

    three = statefulset(replicas=3)["metadata"]["annotations"][key]
    five = statefulset(replicas=5)["metadata"]["annotations"][key]
    other_port = statefulset(replicas=3, port=9000)["metadata"]["annotations"][key]

    assert three == five
    assert three != other_port


def test_spec_hash_stable() -> None:
    manifest = {"b": 1, "a": [1, 2]}

    assert spec_hash(manifest) == spec_hash({"a": [1, 2], "b": 1})
    assert len(spec_hash(manifest)) == 16
