"""Names and labels of the StatsdCluster resource and of the children it owns.

A StatsdCluster called ``main`` owns:

- the StatefulSet and the headless Service ``main-statsd``, whose pods are
  ``main-statsd-0``, ``main-statsd-1``, ... (the ring member names);
- the shard configuration ConfigMap ``main-statsd-config``;
- the ring ConfigMap ``main-ring`` with the key ``ring.json``.
"""

from __future__ import annotations

import re

GROUP = "statsdproxy.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "StatsdCluster"
PLURAL = "statsdclusters"

RING_KEY = "ring.json"
MANAGED_BY = "statsd-operator"

# Recommended Kubernetes labels. The selector uses only name and instance, so
# extra labels from the pod template overrides never change it.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
SHARD_APP_NAME = "statsd-shard"

ANNOTATION_SPEC_HASH = f"{GROUP}/spec-hash"
ANNOTATION_CONFIG_HASH = f"{GROUP}/config-hash"

# The StatefulSet controller puts "<statefulset>-<10-character hash>" into the
# 63-character controller-revision-hash label of every pod, so a StatefulSet
# name may have at most 52 characters. "-statsd" takes 7 of them.
MAX_CLUSTER_NAME = 45
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ORDINAL = re.compile(r"-(0|[1-9][0-9]*)$")


def statefulset_name(cluster: str) -> str:
    """Return the name of the shard StatefulSet, which is also its pods' prefix."""
    return f"{cluster}-statsd"


def service_name(cluster: str) -> str:
    """Return the name of the headless Service that governs the shard pods."""
    return statefulset_name(cluster)


def config_map_name(cluster: str) -> str:
    """Return the name of the ConfigMap holding the shard server configuration."""
    return f"{cluster}-statsd-config"


def ring_config_map_name(cluster: str) -> str:
    """Return the name of the ring ConfigMap that the proxies watch."""
    return f"{cluster}-ring"


def pod_name(cluster: str, ordinal: int) -> str:
    """Return the name of shard pod number ``ordinal``, which is its ring member name."""
    return f"{statefulset_name(cluster)}-{ordinal}"


def pod_ordinal(cluster: str, name: str) -> int | None:
    """Return the ordinal of a shard pod name of this cluster, or None for any other name."""
    prefix = statefulset_name(cluster)
    match = _ORDINAL.search(name)
    if match is None or name[: match.start()] != prefix:
        return None
    return int(match.group(1))


def selector_labels(cluster: str) -> dict[str, str]:
    """Return the labels that select the shard pods of one cluster."""
    return {LABEL_NAME: SHARD_APP_NAME, LABEL_INSTANCE: cluster}


def selector_string(cluster: str) -> str:
    """Return the shard pod selector as a label selector string, for status.selector."""
    return ",".join(f"{key}={value}" for key, value in selector_labels(cluster).items())


def common_labels(cluster: str) -> dict[str, str]:
    """Return the labels put on every child object of a cluster."""
    return {
        **selector_labels(cluster),
        LABEL_COMPONENT: "shard",
        LABEL_PART_OF: "statsd-proxy",
        LABEL_MANAGED_BY: MANAGED_BY,
    }


def cluster_name_problem(name: str) -> str | None:
    """Return why ``name`` cannot name a StatsdCluster, or None when it can.

    The name becomes part of a Service name, so it must be a DNS-1035 label,
    short enough for the StatefulSet's pod labels.
    """
    if len(name) > MAX_CLUSTER_NAME:
        return f"must have at most {MAX_CLUSTER_NAME} characters, got {len(name)}"
    if not _DNS_LABEL.match(name):
        return (
            "must be a DNS-1035 label: lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return None
