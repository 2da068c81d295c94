"""Fixtures for the proxy's tests: task-leak detection and local UDP receivers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.proxy.receivers import UdpReceiver


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
def receivers() -> Iterator[list[UdpReceiver]]:
    """Three UDP receivers on 127.0.0.1 standing in for shards, each on its own port."""
    started = [UdpReceiver(f"shard-{index}") for index in range(3)]
    try:
        yield started
    finally:
        for receiver in started:
            receiver.close()


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    """A UDP socket for sending test traffic."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        yield sock
    finally:
        sock.close()
