"""Fixtures of the membership source tests: the Kubernetes API stand-in and shard receivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sources.traffic import Receiver, Shards
from tests.support.kube_api import kube_api, kube_client
from tests.support.tasks import no_leaked_tasks

__all__ = ["kube_api", "kube_client", "no_leaked_tasks"]


@pytest.fixture
def shards() -> Iterator[Shards]:
    """Three shard receivers on 127.0.0.1, named shard-0 to shard-2, each on its own port."""
    started = Shards(Receiver(f"shard-{index}") for index in range(3))
    try:
        yield started
    finally:
        started.close()
