"""The proxy server on real loopback sockets, in-process."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from statsd_proxy.config import HostPort, ProxyConfig
from statsd_proxy.hashring import ConsistentRing
from statsd_proxy.lines import series_key
from statsd_proxy.ringdoc import Member, RingDocument
from statsd_proxy.server import ProxyServer

from tests.proxy.receivers import UdpReceiver, settle


def members_of(receivers: list[UdpReceiver]) -> tuple[Member, ...]:
    return tuple(Member(r.name, "127.0.0.1", r.port) for r in receivers)


@asynccontextmanager
async def running_proxy(
    receivers: list[UdpReceiver], **options: object
) -> AsyncIterator[ProxyServer]:
    config = ProxyConfig(
        listen=HostPort("127.0.0.1", 0),
        backends=members_of(receivers),
        metrics_listen=None,
        resolve_interval=0,
        **options,  # type: ignore[arg-type]
    )
    server = ProxyServer(config)
    await server.start()
    try:
        await asyncio.wait_for(server.manager.ready.wait(), timeout=5)
        yield server
    finally:
        await server.stop()


async def send_all(sock: socket.socket, port: int, datagrams: list[bytes]) -> None:
    for index, datagram in enumerate(datagrams):
        sock.sendto(datagram, ("127.0.0.1", port))
        if index % 50 == 49:
            await asyncio.sleep(0.001)


async def settled(receivers: list[UdpReceiver], expected: int) -> None:
    await asyncio.to_thread(settle, receivers, expected)


def owner_function(receivers: list[UdpReceiver]) -> Callable[[bytes], str]:
    ring = ConsistentRing(r.name for r in receivers)

    def owner(line: bytes) -> str:
        key = series_key(line)
        assert key is not None, f"test line {line!r} is invalid"
        return ring.lookup(key)

    return owner


async def test_each_shard_gets_own_lines_once(
    receivers: list[UdpReceiver], sender: socket.socket
) -> None:
    lines = [b"users.logins,country=C%d,host=web-%d:1|c" % (i % 7, i % 13) for i in range(600)]
    datagrams = [b"\n".join(lines[i : i + 20]) for i in range(0, len(lines), 20)]
    owner = owner_function(receivers)

    async with running_proxy(receivers) as server:
        await send_all(sender, server.udp_port, datagrams)
        await settled(receivers, len(lines))

    for receiver in receivers:
        expected = sorted(line for line in lines if owner(line) == receiver.name)
        assert sorted(receiver.lines) == expected, receiver.name


async def test_every_dialect_forwarded_unchanged(
    receivers: list[UdpReceiver], sender: socket.socket
) -> None:
    lines = [
        b"users.logins:1|c",
        b"db.query:12.5|ms|@0.25",
        b"load:+3|g",
        b"uniq:abc|s",
        b"users.logins,country=US,host=web-a:1|c",
        b"api.latency:12|h|@0.5|#env:prod,region:eu",
        b"api.latency:12:15:9|d|#env:prod",
        b"users.logins;country=US;host=web-a:1|c",
        b"_e{5,4}:title|text|#t:v",
        b"_sc|name|0|#t:v",
        b"future.type:1|x|c:container|T1656581400",
    ]
    owner = owner_function(receivers)

    async with running_proxy(receivers) as server:
        await send_all(sender, server.udp_port, [b"\n".join(lines)])
        await settled(receivers, len(lines))

    received = {line: r.name for r in receivers for line in r.lines}
    assert sorted(received) == sorted(lines)
    assert all(received[line] == owner(line) for line in lines)


async def test_bad_line_costs_only_itself(
    receivers: list[UdpReceiver], sender: socket.socket
) -> None:
    datagram = b"good.a:1|c\nthis is not statsd\n\n:1|c\n\xff\xfe\x00\ngood.b:2|c\n"

    async with running_proxy(receivers) as server:
        await send_all(sender, server.udp_port, [datagram, b"\x00" * 65000, b"good.c:3|c"])
        await settled(receivers, 3)
        stats = server.stats

    assert sorted(line for r in receivers for line in r.lines) == [
        b"good.a:1|c",
        b"good.b:2|c",
        b"good.c:3|c",
    ]
    assert stats.lines_invalid == 4
    assert stats.lines_blank == 1


async def test_max_datagram_on_wire(receivers: list[UdpReceiver], sender: socket.socket) -> None:
    lines = [b"metric.%04d:%d|c" % (i, i) for i in range(2000)]
    long_line = b"long." + b"x" * 400 + b":1|c"
    datagrams = [b"\n".join(lines[i : i + 40]) for i in range(0, len(lines), 40)] + [long_line]

    async with running_proxy(receivers, max_datagram=300) as server:
        await send_all(sender, server.udp_port, datagrams)
        await settled(receivers, len(lines) + 1)

    on_wire = [d for r in receivers for d in r.datagrams]
    assert all(len(d) <= 300 or d == long_line for d in on_wire)
    assert max(len(d) for d in on_wire if d != long_line) > 250


async def test_tcp_like_udp(receivers: list[UdpReceiver]) -> None:
    lines = [b"tcp.series.%d,host=web-a:1|c" % i for i in range(300)]
    owner = owner_function(receivers)

    async with running_proxy(receivers, tcp=True) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.udp_port)
        payload = b"\n".join(lines) + b"\nnot statsd\n"
        # Split mid-line to check that lines are reassembled across reads.
        writer.write(payload[:1000])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(payload[1000:] + b"last.line:1|c")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await settled(receivers, len(lines) + 1)
        invalid = server.stats.lines_invalid

    received = {line: r.name for r in receivers for line in r.lines}
    assert sorted(received) == sorted([*lines, b"last.line:1|c"])
    assert all(received[line] == owner(line) for line in lines)
    assert invalid == 1


async def test_tcp_overlong_line_dropped(receivers: list[UdpReceiver]) -> None:
    async with running_proxy(receivers, tcp=True) as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.udp_port)
        writer.write(b"a" * 70000 + b":1|c\nafter.long:1|c\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await settled(receivers, 1)
        too_long = server.stats.lines_too_long

    assert [line for r in receivers for line in r.lines] == [b"after.long:1|c"]
    assert too_long == 1


async def test_down_member_counts_send_errors(sender: socket.socket) -> None:
    up = UdpReceiver("up")
    down = UdpReceiver("down")
    down.close()
    try:
        async with running_proxy([up, down], flush_interval_ms=0.5) as server:
            for index in range(40):
                sender.sendto(b"series.%d:1|c" % index, ("127.0.0.1", server.udp_port))
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.1)
            errors = server.stats.members["down"].send_errors
            forwarded_up = server.stats.members["up"].lines_forwarded
    finally:
        up.close()

    assert errors > 0
    assert len(up.lines) == forwarded_up


async def test_first_ring_applies_at_once(
    receivers: list[UdpReceiver], sender: socket.socket
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    document = RingDocument(version=5, members=members_of(receivers), effective_at=later)
    config = ProxyConfig(listen=HostPort("127.0.0.1", 0), metrics_listen=None, resolve_interval=0)
    server = ProxyServer(config, source=_NoSource())
    await server.start()
    try:
        await server.manager.submit(document)
        sender.sendto(b"first.ring:1|c", ("127.0.0.1", server.udp_port))
        await settled(receivers, 1)
        version = server.stats.ring_version
    finally:
        await server.stop()

    assert version == 5


async def test_unopenable_member_counted(receivers: list[UdpReceiver]) -> None:
    members = (*members_of(receivers), Member("broadcast", "255.255.255.255", 1))
    config = ProxyConfig(listen=HostPort("127.0.0.1", 0), metrics_listen=None, resolve_interval=0)
    server = ProxyServer(config, source=_NoSource())
    await server.start()
    try:
        await server.manager.submit(RingDocument(version=1, members=members))
        server.router.route(b"\n".join(b"series.%d:1|c" % index for index in range(300)))
        server.router.flush()
        stats = server.stats.snapshot()
    finally:
        await server.stop()

    assert stats["ring_members"] == 4
    assert stats["discovery_errors"] == {"socket": 1}
    assert stats["dropped"]["unavailable"] > 0
    assert stats["members"]["broadcast"]["lines_forwarded"] == 0


class _NoSource:
    """A source that submits nothing, so a test submits rings itself."""

    async def run(self, sink: object) -> None:
        return None
