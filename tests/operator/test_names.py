"""Child object names, pod ordinals and the cluster name check."""

from __future__ import annotations

import pytest
from statsd_operator import names


def test_child_names() -> None:
    assert names.statefulset_name("main") == "main-statsd"
    assert names.service_name("main") == "main-statsd"
    assert names.config_map_name("main") == "main-statsd-config"
    assert names.ring_config_map_name("main") == "main-ring"
    assert names.pod_name("main", 2) == "main-statsd-2"


@pytest.mark.parametrize(
    ("pod", "ordinal"),
    [
        ("main-statsd-0", 0),
        ("main-statsd-12", 12),
        ("main-statsd-012", None),
        ("main-statsd-", None),
        ("other-statsd-1", None),
        ("main-statsd-x-1", None),
        ("main-1", None),
    ],
)
def test_pod_ordinal(pod: str, ordinal: int | None) -> None:
    assert names.pod_ordinal("main", pod) == ordinal


def test_selector_string() -> None:
    selector = names.selector_string("main")

    assert selector == "app.kubernetes.io/name=statsd-shard,app.kubernetes.io/instance=main"


@pytest.mark.parametrize("name", ["main", "a", "web-1", "x" * names.MAX_CLUSTER_NAME])
def test_cluster_name_valid(name: str) -> None:
    assert names.cluster_name_problem(name) is None


@pytest.mark.parametrize(
    "name", ["Main", "1main", "main-", "main.eu", "x" * (names.MAX_CLUSTER_NAME + 1)]
)
def test_cluster_name_invalid(name: str) -> None:
    assert names.cluster_name_problem(name) is not None
