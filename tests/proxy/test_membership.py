"""Ring switching in the ring manager: timing and the last good ring."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from statsd_proxy.batching import FlushScheduler
from statsd_proxy.membership import RingManager
from statsd_proxy.ringdoc import Member, RingDocument
from statsd_proxy.router import Router
from statsd_proxy.stats import ProxyStats

MEMBERS = (Member("a", "127.0.0.1", 9), Member("b", "127.0.0.1", 9))


class SlowingClock:
    """A wall clock that falls 30 ms behind after ``lag_after`` reads.

    Against the event loop's own clock this looks like a timer firing 30 ms
    before the wall-clock time it was set for.
    """

    def __init__(self, lag_after: int) -> None:
        self.reads = 0
        self.lag_after = lag_after

    def __call__(self) -> datetime:
        self.reads += 1
        lag = timedelta(milliseconds=30) if self.reads > self.lag_after else timedelta(0)
        return datetime.now(UTC) - lag


def make_manager(clock: SlowingClock | None = None) -> RingManager:
    router = Router(ProxyStats())
    scheduler = FlushScheduler(asyncio.get_running_loop(), 0.002)
    return RingManager(
        router,
        scheduler,
        default_hash_key="series",
        default_max_datagram=1432,
        wall_clock=clock or SlowingClock(lag_after=1_000_000),
    )


async def test_switch_never_before_effective_at() -> None:
    clock = SlowingClock(lag_after=1)
    manager = make_manager(clock)
    await manager.submit(RingDocument(version=1, members=MEMBERS[:1]))
    effective = datetime.now(UTC) + timedelta(milliseconds=50)
    switched_at: list[datetime] = []

    await manager.submit(RingDocument(version=2, members=MEMBERS, effective_at=effective))
    for _ in range(2000):
        if manager.stats.ring_version == 2:
            switched_at.append(clock())
            break
        await asyncio.sleep(0.001)
    manager.close()

    assert switched_at, "ring version 2 was not applied within about 2 s"
    assert switched_at[0] >= effective


async def test_empty_ring_keeps_last() -> None:
    manager = make_manager()
    await manager.submit(RingDocument(version=1, members=MEMBERS))

    await manager.submit(RingDocument(version=2, members=()))
    version = manager.stats.ring_version
    stale = manager.stats.ring_stale
    manager.close()

    assert version == 1
    assert stale is True


async def test_pending_ring_replaced() -> None:
    manager = make_manager()
    await manager.submit(RingDocument(version=1, members=MEMBERS[:1]))
    later = datetime.now(UTC) + timedelta(seconds=30)

    await manager.submit(RingDocument(version=2, members=MEMBERS, effective_at=later))
    await manager.submit(RingDocument(version=3, members=MEMBERS[1:]))
    version = manager.stats.ring_version
    names = manager.document.member_names if manager.document else frozenset()
    manager.close()

    assert version == 3
    assert names == frozenset({"b"})
