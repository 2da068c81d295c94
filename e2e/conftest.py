"""Fixtures of the end-to-end test: a kind cluster with the image, a sink and the chart.

Every test here is skipped, with the reason and how to run it, on a machine
without a Docker engine, kind, kubectl or helm.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from e2e import cluster

SINK_PORT = 2003
_MISSING = cluster.missing_prerequisites()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip every end-to-end test when this machine cannot run it."""
    if not _MISSING:
        return
    reason = f"end-to-end test skipped: {'; '.join(_MISSING)}. To run it, {cluster.HOW_TO_RUN}"
    e2e_folder = Path(__file__).parent
    for item in items:
        if e2e_folder in item.path.parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def kind_cluster() -> Iterator[str]:
    """The kind cluster with the project's image loaded, deleted afterwards unless kept."""
    reuse = os.environ.get("STATSD_E2E_REUSE") == "1" and cluster.cluster_exists()
    if not reuse:
        cluster.create_cluster()
    try:
        cluster.build_and_load_image()
        cluster.ensure_namespace()
        yield cluster.CONTEXT
    finally:
        if os.environ.get("STATSD_E2E_KEEP") != "1" and not reuse:
            cluster.delete_cluster()


def _sink_manifests() -> str:
    source = (Path(__file__).parent / "graphite_sink.py").read_text()
    labels = {"app.kubernetes.io/name": "graphite-sink"}
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "graphite-sink"},
            "data": {"graphite_sink.py": source},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "graphite-sink", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "sink",
                                "image": cluster.IMAGE,
                                "imagePullPolicy": "Never",
                                "command": ["python", "/sink/graphite_sink.py"],
                                "args": ["--port", str(SINK_PORT)],
                                "ports": [{"name": "graphite", "containerPort": SINK_PORT}],
                                "readinessProbe": {"tcpSocket": {"port": "graphite"}},
                                "volumeMounts": [{"name": "code", "mountPath": "/sink"}],
                            }
                        ],
                        "volumes": [{"name": "code", "configMap": {"name": "graphite-sink"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "graphite"},
            "spec": {
                "selector": labels,
                "ports": [{"name": "graphite", "port": SINK_PORT, "targetPort": "graphite"}],
            },
        },
    ]
    return yaml.safe_dump_all(objects)


@pytest.fixture(scope="session")
def sink(kind_cluster: str) -> str:
    """The in-cluster host name of a Graphite plaintext receiver in the test namespace."""
    cluster.kubectl("apply", "-f", "-", stdin=_sink_manifests())
    cluster.kubectl("rollout", "status", "deployment/graphite-sink", "--timeout=180s", timeout=200)
    return f"graphite.{cluster.NAMESPACE}.svc.cluster.local"


@pytest.fixture(scope="session")
def release(sink: str) -> Iterator[str]:
    """The chart installed with a two-shard StatsdCluster flushing to the sink every 2 s."""
    cluster.helm(
        "upgrade", "--install", cluster.RELEASE, str(cluster.REPO / "charts" / "statsd-proxy"),
        "--wait", "--timeout", "5m",
        "--set", "image.repository=statsd-proxy",
        "--set", "image.tag=e2e",
        "--set", "image.pullPolicy=Never",
        "--set", "statsdCluster.create=true",
        "--set", f"statsdCluster.name={cluster.STATSD_CLUSTER}",
        "--set", "statsdCluster.shards=2",
        "--set", "statsdCluster.flushIntervalSeconds=2",
        "--set", f"statsdCluster.sink.graphite.host={sink}",
        "--set", f"statsdCluster.sink.graphite.port={SINK_PORT}",
    )  # fmt: skip
    yield cluster.RELEASE
    if os.environ.get("STATSD_E2E_KEEP") != "1":
        cluster.helm("uninstall", cluster.RELEASE, "--wait", "--timeout", "3m")
