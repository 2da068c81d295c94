"""One source of API credentials for kopf and for kubernetes_asyncio.

The operator loads a kubernetes_asyncio ``Configuration`` once (the pod's
service account inside a cluster, else a kubeconfig file) and derives kopf's
``ConnectionInfo`` from it, so both clients always talk to the same server
with the same identity.
"""

from __future__ import annotations

import os
from typing import Any

import kopf
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config


async def load_configuration(kubeconfig: str | None = None) -> Any:
    """Load API credentials: from ``kubeconfig`` when given, else the service
    account when running in a pod, else the ``KUBECONFIG`` file or ``~/.kube/config``.
    """
    configuration = k8s.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        # kubernetes_asyncio ships no type information.
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return configuration
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    await k8s_config.load_kube_config(config_file=path, client_configuration=configuration)
    return configuration


async def connection_info(configuration: Any) -> kopf.ConnectionInfo:
    """Build kopf's connection settings from a kubernetes_asyncio ``Configuration``.

    The token is read through the configuration's refresh hook, so a rotated
    service account token reaches kopf when it logs in again.
    """
    scheme: str | None = None
    token: str | None = None
    authorization = await configuration.get_api_key_with_prefix("BearerToken", "authorization")
    if authorization:
        scheme, _, token = str(authorization).partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert or None,
        insecure=not configuration.verify_ssl,
        scheme=scheme,
        token=token or None,
        certificate_path=configuration.cert_file or None,
        private_key_path=configuration.key_file or None,
        username=configuration.username or None,
        password=configuration.password or None,
    )
