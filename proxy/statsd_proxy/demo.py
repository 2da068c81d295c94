"""``statsd-proxy demo``: the proxy in front of three local shards, then a fourth.

Everything runs on 127.0.0.1 in one process. Three UDP receivers stand in
for StatsD shards and record which series each one received, and the real
proxy server routes a webapp-like traffic mix to them. The demo checks the
two promises of sharding: every series lands on exactly one shard, and
adding a shard moves only about a quarter of the series.
"""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from statsd_proxy.config import HostPort, ProxyConfig
from statsd_proxy.lines import series_key, split_lines
from statsd_proxy.ringdoc import Member, RingDocument
from statsd_proxy.server import ProxyServer
from statsd_proxy.sources import RingSink

HOSTS = tuple(f"web-{letter}" for letter in "abcdefghijkl")
TABLES = tuple(f"table{index}" for index in range(20))
COUNTRIES = ("US", "DE", "FR", "BR", "JP", "IN", "GB", "CA")
ENDPOINTS = ("/", "/login", "/cart", "/checkout", "/search", "/api/items", "/api/users")
DATAGRAM_BYTES = 1400
# A moved share outside this range means the ring is not consistent hashing.
MOVED_SHARE_RANGE = (0.15, 0.35)


class ShardReceiver(asyncio.DatagramProtocol):
    """A stand-in StatsD shard that records the series of every line it receives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines = 0
        self.series: Counter[bytes] = Counter()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        for line in split_lines(data):
            key = series_key(line)
            self.lines += 1
            if key is not None:
                self.series[key] += 1

    def reset(self) -> None:
        """Forget everything received so far."""
        self.lines = 0
        self.series.clear()


def traffic(rng: random.Random, count: int) -> list[bytes]:
    """Return ``count`` lines of a webapp traffic mix in several dialects."""
    makers = (
        lambda: (
            b"users.logins,country=%s,host=%s:1|c"
            % (rng.choice(COUNTRIES).encode(), rng.choice(HOSTS).encode())
        ),
        lambda: (
            b"http.request.duration,endpoint=%s,host=%s:%.1f|ms|@0.25"
            % (rng.choice(ENDPOINTS).encode(), rng.choice(HOSTS).encode(), rng.uniform(1, 900))
        ),
        lambda: (
            b"api.latency:%d|h|@0.5|#env:prod,region:%s,host:%s"
            % (rng.randint(1, 300), rng.choice((b"eu", b"us", b"ap")), rng.choice(HOSTS).encode())
        ),
        lambda: (
            b"queue.depth,queue=%s:%d|g" % (rng.choice((b"emails", b"jobs")), rng.randint(0, 99))
        ),
        lambda: (
            b"users.unique,host=%s:user%d|s" % (rng.choice(HOSTS).encode(), rng.randint(1, 500))
        ),
        lambda: (
            b"payments.amount;currency=%s;host=%s:%.2f|d|#env:prod"
            % (rng.choice((b"EUR", b"USD")), rng.choice(HOSTS).encode(), rng.uniform(1, 200))
        ),
        lambda: b"cache.hits,host=%s:%d|c|@0.1" % (rng.choice(HOSTS).encode(), rng.randint(1, 9)),
        lambda: (
            b"db.query.duration,table=%s,op=%s,host=%s:%.2f|ms"
            % (
                rng.choice(TABLES).encode(),
                rng.choice((b"select", b"insert", b"update", b"delete")),
                rng.choice(HOSTS).encode(),
                rng.uniform(0.1, 50),
            )
        ),
    )
    return [rng.choice(makers)() for _ in range(count)]


def pack(lines: list[bytes], limit: int = DATAGRAM_BYTES) -> list[bytes]:
    """Pack lines into newline-separated datagrams of at most ``limit`` bytes."""
    datagrams: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for line in lines:
        if batch and size + 1 + len(line) > limit:
            datagrams.append(b"\n".join(batch))
            batch, size = [], 0
        size += len(line) + (1 if batch else 0)
        batch.append(line)
    if batch:
        datagrams.append(b"\n".join(batch))
    return datagrams


def _factory(receiver: ShardReceiver) -> Callable[[], ShardReceiver]:
    return lambda: receiver


class _DemoSource:
    """A membership source the demo drives by hand."""

    def __init__(self) -> None:
        self.sink: RingSink | None = None
        self.attached = asyncio.Event()

    async def run(self, sink: RingSink) -> None:
        self.sink = sink
        self.attached.set()
        await asyncio.Event().wait()


def run_demo(seconds: float = 3.0, out: TextIO = sys.stdout) -> int:
    """Run the demo; return 0 when every check passes, 1 otherwise."""
    return asyncio.run(_demo(seconds, out))


async def _demo(seconds: float, out: TextIO) -> int:
    loop = asyncio.get_running_loop()
    receivers = [ShardReceiver(f"shard-{index}") for index in range(4)]
    transports = []
    members = []
    for receiver in receivers:
        transport, _ = await loop.create_datagram_endpoint(
            _factory(receiver), local_addr=("127.0.0.1", 0), family=socket.AF_INET
        )
        transports.append(transport)
        port = transport.get_extra_info("sockname")[1]
        members.append(Member(name=receiver.name, host="127.0.0.1", port=port))
    source = _DemoSource()
    config = ProxyConfig(listen=HostPort("127.0.0.1", 0), metrics_listen=None)
    server = ProxyServer(config, source=source)
    await server.start()
    await source.attached.wait()
    assert source.sink is not None
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        return await _run_phases(server, source.sink, receivers, members, sender, seconds, out)
    finally:
        sender.close()
        await server.stop()
        for transport in transports:
            transport.close()


async def _run_phases(
    server: ProxyServer,
    sink: RingSink,
    receivers: list[ShardReceiver],
    members: list[Member],
    sender: socket.socket,
    seconds: float,
    out: TextIO,
) -> int:
    target = ("127.0.0.1", server.udp_port)
    rng = random.Random(8125)
    await sink.submit(RingDocument(version=1, members=tuple(members[:3])))
    print(f"statsd-proxy demo: proxy on udp://127.0.0.1:{server.udp_port}, 3 shards", file=out)
    lines = traffic(rng, 20_000)
    # Two malformed lines and a blank one: each is counted and dropped alone.
    datagrams = [*pack(lines), b"no-colon-or-pipe\n\nvalid.after.bad:1|c", b":1|c"]
    sent = await _send_paced(sender, target, datagrams, seconds)
    await asyncio.sleep(0.3)
    first = {r.name: dict(r.series) for r in receivers[:3]}
    failures = _report_phase(out, receivers[:3], sent, server)
    print("\nadding shard-3 to the ring (version 2)", file=out)
    await sink.submit(RingDocument(version=2, members=tuple(members)))
    for receiver in receivers:
        receiver.reset()
    series_lines = _one_line_per_series(lines)
    await _send_paced(sender, target, pack(series_lines), min(seconds, 1.0))
    await asyncio.sleep(0.3)
    failures += _check_exclusive(receivers, out)
    failures += _report_moves(first, receivers, out)
    print(
        "\nresult: " + ("all checks passed" if not failures else f"{failures} check(s) failed"),
        file=out,
    )
    return 0 if not failures else 1


async def _send_paced(
    sender: socket.socket, target: tuple[str, int], datagrams: list[bytes], seconds: float
) -> int:
    """Send datagrams spread evenly over ``seconds``; return the number of lines sent."""
    started = time.monotonic()
    step = max(1, len(datagrams) // 100)
    for index in range(0, len(datagrams), step):
        for datagram in datagrams[index : index + step]:
            sender.sendto(datagram, target)
        due = started + seconds * (index + step) / len(datagrams)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
    return sum(len(split_lines(d)) for d in datagrams)


def _report_phase(
    out: TextIO, receivers: list[ShardReceiver], sent: int, server: ProxyServer
) -> int:
    snapshot = server.stats.snapshot()
    print(f"\n{'shard':<10} {'lines':>8} {'series':>8}", file=out)
    for receiver in receivers:
        print(f"{receiver.name:<10} {receiver.lines:>8} {len(receiver.series):>8}", file=out)
    received = sum(r.lines for r in receivers)
    dropped = snapshot["dropped"]
    print(
        f"\nlines sent {sent}, delivered {received}, invalid {dropped['invalid']}, "
        f"blank {dropped['blank']}",
        file=out,
    )
    failures = _check_exclusive(receivers, out)
    expected = sent - dropped["invalid"] - dropped["blank"]
    if received != expected:
        print(f"FAIL: shards received {received} lines, expected {expected}", file=out)
        failures += 1
    return failures


def _check_exclusive(receivers: list[ShardReceiver], out: TextIO) -> int:
    owners: dict[bytes, list[str]] = {}
    for receiver in receivers:
        for key in receiver.series:
            owners.setdefault(key, []).append(receiver.name)
    split = {key: names for key, names in owners.items() if len(names) > 1}
    if split:
        print(f"FAIL: {len(split)} series reached more than one shard", file=out)
        return 1
    print(f"check: each of {len(owners)} series reached exactly one shard", file=out)
    return 0


def _one_line_per_series(lines: list[bytes]) -> list[bytes]:
    seen: dict[bytes, bytes] = {}
    for line in lines:
        key = series_key(line)
        if key is not None:
            seen.setdefault(key, line)
    return list(seen.values())


def _report_moves(
    first: dict[str, dict[bytes, int]], receivers: list[ShardReceiver], out: TextIO
) -> int:
    before = {key: name for name, series in first.items() for key in series}
    after = {key: r.name for r in receivers for key in r.series}
    common = [key for key in after if key in before]
    moved = sum(1 for key in common if before[key] != after[key])
    share = moved / len(common) if common else 0.0
    to_new = sum(1 for key in common if before[key] != after[key] and after[key] == "shard-3")
    print(
        f"moved: {moved} of {len(common)} series ({share:.1%}), {to_new} of them to shard-3",
        file=out,
    )
    low, high = MOVED_SHARE_RANGE
    if not low <= share <= high or to_new != moved:
        print("FAIL: expected about 1/4 of the series to move, all to shard-3", file=out)
        return 1
    return 0
