"""Per-member batching: size limits, whole lines, flush delay and backpressure."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st
from statsd_proxy.batching import FlushScheduler, MemberChannel
from statsd_proxy.stats import MemberStats

from tests.proxy.fakes import ChannelFactory, RecordingSender, sent


def test_batch_fills_to_limit() -> None:
    channel = ChannelFactory()("a", limit=11)

    for line in (b"aaa", b"bbb", b"ccc"):
        channel.add(line)

    assert sent(channel) == [b"aaa\nbbb\nccc"]


def test_size_checked_before_append() -> None:
    channel = ChannelFactory()("a", limit=10)

    for line in (b"aaa", b"bbb", b"ccc"):
        channel.add(line)
    channel.flush()

    assert sent(channel) == [b"aaa\nbbb", b"ccc"]


def test_oversize_line_travels_alone() -> None:
    channel = ChannelFactory()("a", limit=8)
    long_line = b"x" * 20

    channel.add(b"aa")
    channel.add(long_line)
    channel.add(b"bb")
    channel.flush()

    assert sent(channel) == [b"aa", long_line, b"bb"]


def test_flush_passes_line_count() -> None:
    channel = ChannelFactory()("a")

    channel.add(b"a:1|c")
    channel.add(b"b:1|c")
    channel.flush()

    sender = channel.sender
    assert isinstance(sender, RecordingSender)
    assert sender.line_counts == [2]


def test_empty_flush_sends_nothing() -> None:
    channel = ChannelFactory()("a")

    channel.flush()

    assert sent(channel) == []


def test_first_line_notifies_scheduler() -> None:
    factory = ChannelFactory()
    channel = factory("a")

    channel.add(b"a:1|c")
    channel.add(b"b:1|c")

    assert factory.started == [channel]


line_bytes = st.binary(min_size=1, max_size=200).map(lambda b: b.replace(b"\n", b"x"))


@given(st.lists(line_bytes, max_size=200), st.integers(min_value=64, max_value=1500))
def test_batches_bounded_and_lossless(lines: list[bytes], limit: int) -> None:
    channel = ChannelFactory()("a", limit=limit)

    for line in lines:
        channel.add(line)
    channel.flush()

    datagrams = sent(channel)
    for datagram in datagrams:
        assert len(datagram) <= limit or b"\n" not in datagram
    assert [line for d in datagrams for line in d.split(b"\n")] == lines


async def test_scheduler_flushes_within_delay() -> None:
    loop = asyncio.get_running_loop()
    scheduler = FlushScheduler(loop, delay=0.01)
    channel = MemberChannel("a", 1432, RecordingSender(), MemberStats(), scheduler.notify)

    channel.add(b"a:1|c")
    before = list(sent(channel))
    await asyncio.sleep(0.05)

    assert before == []
    assert sent(channel) == [b"a:1|c"]


async def test_scheduler_one_timer_for_all() -> None:
    loop = asyncio.get_running_loop()
    scheduler = FlushScheduler(loop, delay=0.01)
    channels = [
        MemberChannel(name, 1432, RecordingSender(), MemberStats(), scheduler.notify)
        for name in ("a", "b", "c")
    ]

    for channel in channels:
        channel.add(b"m:1|c")
    handle = scheduler._handle
    for channel in channels:
        channel.add(b"n:1|c")

    assert handle is not None
    assert scheduler._handle is handle
    scheduler.flush_now()
    assert [sent(c) for c in channels] == [[b"m:1|c\nn:1|c"]] * 3
