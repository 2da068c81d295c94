"""Fixtures of the membership source tests: the Kubernetes API stand-in and shard receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.sources.traffic import Receiver, Shards
from tests.support.kube_api import kube_api, kube_client

__all__ = ["kube_api", "kube_client"]


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [
        task
        for task in asyncio.all_tasks() - before
        if task is not asyncio.current_task() and not task.done()
    ]
    assert not leaked, f"tasks left running: {[task.get_name() for task in leaked]}"


@pytest.fixture
def shards() -> Iterator[Shards]:
    """Three shard receivers on 127.0.0.1, named shard-0 to shard-2, each on its own port."""
    started = Shards(Receiver(f"shard-{index}") for index in range(3))
    try:
        yield started
    finally:
        started.close()
