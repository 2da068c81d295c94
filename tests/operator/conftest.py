"""Fixtures of the operator tests: the Kubernetes API stand-in."""

from tests.support.kube_api import kube_api, kube_client

__all__ = ["kube_api", "kube_client"]
