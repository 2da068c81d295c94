"""Fixtures of the Kubernetes API stand-in self-tests."""

from tests.support.kube_api import kube_api, kube_client

__all__ = ["kube_api", "kube_client"]
