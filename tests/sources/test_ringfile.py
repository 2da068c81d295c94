"""The ring file source on a kubelet-style ConfigMap volume, with traffic flowing."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from statsd_proxy.server import ProxyServer
from statsd_proxy.sources.ringfile import RingFileSource

from tests.sources.harness import address_of, ring_json, running_proxy, wait_for_version
from tests.sources.traffic import (
    Shards,
    Traffic,
    background_arrivals,
    misrouted,
    send_round,
    wait_for_background,
)
from tests.support.kube_api import wait_until

TWO = ["shard-0", "shard-1"]
POLL = 0.05


class ConfigMapVolume:
    """A directory laid out as the kubelet lays out a ConfigMap volume.

    ``ring.json`` is a symlink to ``..data/ring.json``, and ``..data`` is a
    symlink to a timestamped directory. An update writes a new directory,
    points a temporary symlink at it and renames that over ``..data``, so the
    change is atomic, then removes the old directory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "ring.json"
        self._generation = 0
        root.mkdir()

    def write(self, text: str) -> None:
        """Publish ``text`` as the new ``ring.json`` by swapping ``..data``."""
        self._generation += 1
        fresh = f"..2026_12_04_15_00_{self._generation:02d}.{os.getpid()}"
        (self.root / fresh).mkdir()
        (self.root / fresh / "ring.json").write_text(text)
        data = self.root / "..data"
        old = os.readlink(data) if data.is_symlink() else None
        temporary = self.root / "..data_tmp"
        temporary.symlink_to(fresh)
        temporary.rename(data)
        if not self.path.is_symlink():
            self.path.symlink_to("..data/ring.json")
        if old is not None:
            shutil.rmtree(self.root / old)

    def remove(self) -> None:
        """Remove the ``..data`` link, so ``ring.json`` dangles."""
        (self.root / "..data").unlink()


@asynccontextmanager
async def file_proxy(path: Path) -> AsyncIterator[ProxyServer]:
    source = RingFileSource(str(path), interval=POLL)
    async with running_proxy(source, ring_file=str(path)) as server:
        yield server


async def test_file_symlink_swap(tmp_path: Path, shards: Shards) -> None:
    volume = ConfigMapVolume(tmp_path / "ring")
    volume.write(ring_json(1, shards, TWO))
    async with file_proxy(volume.path) as server:
        await wait_for_version(server, 1)
        with Traffic(address_of(server)) as traffic:
            before = await send_round(shards, address_of(server), 1)
            volume.write(ring_json(2, shards))
            await wait_for_version(server, 2)
            after = await send_round(shards, address_of(server), 2)
        sent = traffic.sent
        await wait_for_background(shards, sent)
        updates = server.stats.ring_updates

    assert misrouted(before, TWO) == []
    assert misrouted(after, shards.by_name) == []
    assert "shard-2" in {a.member for a in after}
    assert sorted(a.line for a in background_arrivals(shards)) == sorted(sent)
    assert updates == 2


async def test_file_appears_later(tmp_path: Path, shards: Shards) -> None:
    volume = ConfigMapVolume(tmp_path / "ring")
    async with file_proxy(volume.path) as server:
        await wait_until(lambda: server.stats.discovery_errors.get("missing"), "missing counted")
        ready_before = server.ready

        volume.write(ring_json(1, shards))
        await wait_for_version(server, 1)
        arrived = await send_round(shards, address_of(server), 1)
        missing = server.stats.discovery_errors.get("missing")

    assert ready_before is False
    assert misrouted(arrived, shards.by_name) == []
    assert missing == 1


async def test_file_missing_kept(tmp_path: Path, shards: Shards) -> None:
    volume = ConfigMapVolume(tmp_path / "ring")
    volume.write(ring_json(1, shards))
    async with file_proxy(volume.path) as server:
        await wait_for_version(server, 1)

        volume.remove()
        await wait_until(lambda: server.stats.ring_stale, "the ring marked stale")
        kept = await send_round(shards, address_of(server), 1)
        missing = server.stats.discovery_errors.get("missing")
        ready = server.ready
        volume.write(ring_json(1, shards))
        await wait_until(lambda: not server.stats.ring_stale, "the stale mark cleared")
        updates = server.stats.ring_updates

    assert misrouted(kept, shards.by_name) == []
    assert missing == 1
    assert ready is True
    assert updates == 1


async def test_file_invalid_kept(tmp_path: Path, shards: Shards) -> None:
    volume = ConfigMapVolume(tmp_path / "ring")
    volume.write(ring_json(1, shards, TWO))
    async with file_proxy(volume.path) as server:
        await wait_for_version(server, 1)

        volume.write('{"version": 2, "members": [{"name": "shard-0"}]}')
        await wait_until(lambda: server.stats.ring_stale, "the ring marked stale")
        kept = await send_round(shards, address_of(server), 1)
        invalid = server.stats.discovery_errors.get("invalid")
        volume.write(ring_json(3, shards))
        await wait_for_version(server, 3)
        after = await send_round(shards, address_of(server), 2)
        stale_after = server.stats.ring_stale

    assert misrouted(kept, TWO) == []
    assert invalid == 1
    assert misrouted(after, shards.by_name) == []
    assert stale_after is False


async def test_file_rewritten_in_place(tmp_path: Path, shards: Shards) -> None:
    path = tmp_path / "ring.json"
    path.write_text(ring_json(1, shards, TWO))
    async with file_proxy(path) as server:
        await wait_for_version(server, 1)

        path.write_text(ring_json(2, shards))
        await wait_for_version(server, 2)
        arrived = await send_round(shards, address_of(server), 1)

    assert misrouted(arrived, shards.by_name) == []


async def test_file_unusable_address(tmp_path: Path, shards: Shards) -> None:
    path = tmp_path / "ring.json"
    path.write_text(ring_json(1, shards, TWO))
    broadcast = '{"version": 2, "members": [{"name": "x", "host": "255.255.255.255", "port": 1}]}'
    async with file_proxy(path) as server:
        await wait_for_version(server, 1)

        path.write_text(broadcast)
        await wait_for_version(server, 2)
        socket_errors = server.stats.discovery_errors.get("socket")
        path.write_text(ring_json(3, shards))
        await wait_for_version(server, 3)
        arrived = await send_round(shards, address_of(server), 1)

    assert socket_errors == 1
    assert misrouted(arrived, shards.by_name) == []
