"""Routing datagrams to member channels: splitting, counting and caching."""

from __future__ import annotations

import pytest
from statsd_proxy.batching import MemberChannel
from statsd_proxy.hashring import ConsistentRing
from statsd_proxy.router import Router
from statsd_proxy.stats import ProxyStats

from tests.proxy.fakes import ChannelFactory, sent

NAMES = ("shard-0", "shard-1", "shard-2")


def make_router(
    hash_key: str = "series", cache_size: int = 1000
) -> tuple[Router, dict[str, MemberChannel]]:
    factory = ChannelFactory()
    channels = {name: factory(name) for name in NAMES}
    router = Router(ProxyStats(), cache_size=cache_size)
    router.install(ConsistentRing(NAMES), channels, hash_key)
    return router, channels


def delivered(channels: dict[str, MemberChannel]) -> dict[str, list[bytes]]:
    result = {}
    for name, channel in channels.items():
        channel.flush()
        result[name] = [line for d in sent(channel) for line in d.split(b"\n")]
    return result


def test_datagram_lines_split_exactly() -> None:
    router, channels = make_router()
    lines = [b"m%d,host=web-a:1|c" % index for index in range(50)]

    router.route(b"\n".join(lines) + b"\n")

    received = delivered(channels)
    assert sorted(line for member in received.values() for line in member) == sorted(lines)


def test_same_series_same_member() -> None:
    router, channels = make_router()

    router.route(b"m,a=1,b=2:1|c\nm,b=2,a=1:5|c\nm:1|c|#x:1\nm:2|ms|#x:1")

    received = delivered(channels)
    owners = {line: name for name, lines in received.items() for line in lines}
    assert owners[b"m,a=1,b=2:1|c"] == owners[b"m,b=2,a=1:5|c"]
    assert owners[b"m:1|c|#x:1"] == owners[b"m:2|ms|#x:1"]


def test_bad_and_blank_lines_cost_themselves() -> None:
    router, channels = make_router()

    router.route(b"good.one:1|c\nbad line\n\n:1|c\r\ngood.two:2|c\r\n")

    received = delivered(channels)
    assert sorted(line for lines in received.values() for line in lines) == [
        b"good.one:1|c",
        b"good.two:2|c",
    ]
    assert router.stats.lines_invalid == 2
    assert router.stats.lines_blank == 1
    assert router.stats.lines_received == 5


def test_crlf_stripped_before_forwarding() -> None:
    router, channels = make_router()

    router.route(b"a:1|c\r\n")

    assert [line for lines in delivered(channels).values() for line in lines] == [b"a:1|c"]


def test_events_and_service_checks_routed() -> None:
    router, channels = make_router()
    special = [b"_e{5,4}:title|text|#t:v", b"_sc|name|0|#t:v"]

    router.route(b"\n".join(special))

    assert sorted(line for lines in delivered(channels).values() for line in lines) == sorted(
        special
    )


def test_no_ring_drops_and_counts() -> None:
    router = Router(ProxyStats())

    router.route(b"a:1|c\nb:1|c")

    assert router.stats.lines_no_ring == 2


def test_cache_bounded() -> None:
    router, _ = make_router(cache_size=10)

    for index in range(100):
        router.route(b"series.%d:1|c" % index)

    assert len(router._cache) <= 10


def test_name_mode_ignores_tags() -> None:
    router, channels = make_router(hash_key="name")
    lines = [b"m,host=web-%d:1|c|#region:r%d" % (index, index) for index in range(30)]

    router.route(b"\n".join(lines))

    received = delivered(channels)
    assert sum(1 for member in received.values() if member) == 1


def test_install_requires_every_channel() -> None:
    router = Router(ProxyStats())

    with pytest.raises(ValueError, match="no channel for ring members"):
        router.install(ConsistentRing(["a", "b"]), {"a": ChannelFactory()("a")}, "series")


def test_ring_switch_clears_cache() -> None:
    router, _ = make_router()
    router.route(b"m:1|c")
    factory = ChannelFactory()
    new_channels = {name: factory(name) for name in ("x", "y")}

    router.install(ConsistentRing(new_channels), new_channels, "series")
    router.route(b"m:1|c")

    assert sum(len(delivered(new_channels)[name]) for name in new_channels) == 1
