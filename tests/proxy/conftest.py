"""Fixtures for the proxy's tests: task-leak detection and local UDP receivers."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.proxy.receivers import UdpReceiver
from tests.support.tasks import no_leaked_tasks

__all__ = ["no_leaked_tasks"]


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
