"""Routing: split datagrams into lines and hand each line to its member's batch.

This is the hot path. It does not touch sockets or asyncio: the caller
installs a ring and a channel per member, then feeds datagrams to `route`.
A line's route is cached under its raw head (and DogStatsD tags in
``series`` mode), so the canonical key with sorted tags is built only for a
series not seen since the cache was last cleared.
"""

from __future__ import annotations

from collections.abc import Mapping

from statsd_proxy import lines as statsd_lines
from statsd_proxy.batching import MemberChannel
from statsd_proxy.hashring import ConsistentRing
from statsd_proxy.stats import ProxyStats

DEFAULT_CACHE_SIZE = 50_000

_UNDERSCORE = ord("_")
_CARRIAGE_RETURN = ord("\r")


class Router:
    """Routes StatsD lines to member channels by consistent hashing."""

    __slots__ = (
        "_cache",
        "_cache_size",
        "_channels",
        "_key_function",
        "_ring",
        "_with_dogstatsd_tags",
        "hash_key",
        "stats",
    )

    def __init__(self, stats: ProxyStats, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.stats = stats
        self.hash_key = "series"
        self._cache_size = cache_size
        self._cache: dict[bytes, MemberChannel] = {}
        self._channels: dict[str, MemberChannel] = {}
        self._ring = ConsistentRing(())
        self._key_function: statsd_lines.RouteKeyFunction = statsd_lines.series_key
        self._with_dogstatsd_tags = True

    @property
    def ring(self) -> ConsistentRing:
        """The ring in use."""
        return self._ring

    @property
    def channels(self) -> Mapping[str, MemberChannel]:
        """The channel of every member in the ring, by member name."""
        return self._channels

    def install(
        self, ring: ConsistentRing, channels: Mapping[str, MemberChannel], hash_key: str
    ) -> None:
        """Switch to a new ring; ``channels`` must hold a channel for every member."""
        missing = set(ring.names) - set(channels)
        if missing:
            raise ValueError(f"no channel for ring members {sorted(missing)!r}")
        self._key_function = statsd_lines.key_function(hash_key)
        self.hash_key = hash_key
        self._with_dogstatsd_tags = hash_key == "series"
        self._ring = ring
        self._channels = dict(channels)
        self._cache.clear()

    def route(self, datagram: bytes) -> None:
        """Route every line of a datagram; invalid and blank lines are counted and dropped."""
        lines = datagram.split(b"\n")
        if not lines[-1]:
            lines.pop()
        stats = self.stats
        stats.lines_received += len(lines)
        if not self._channels:
            stats.lines_no_ring += len(lines)
            return
        cache_get = self._cache.get
        cache_key = statsd_lines.cache_key
        with_tags = self._with_dogstatsd_tags
        for line in lines:
            if not line or line[-1] == _CARRIAGE_RETURN:
                line = line[:-1]
                if not line:
                    stats.lines_blank += 1
                    continue
            if line[0] == _UNDERSCORE and statsd_lines.is_special(line):
                channel = self._route_uncached(line)
            else:
                key = cache_key(line, with_tags)
                channel = cache_get(key) if key is not None else None
                if channel is None:
                    channel = self._route_uncached(line, key)
            if channel is not None:
                channel.add(line)

    def flush(self) -> None:
        """Send every partial batch now."""
        for channel in self._channels.values():
            channel.flush()

    def _route_uncached(self, line: bytes, cache_key: bytes | None = None) -> MemberChannel | None:
        route_key = self._key_function(line)
        if route_key is None:
            self.stats.lines_invalid += 1
            return None
        channel = self._channels[self._ring.lookup(route_key)]
        if cache_key is not None:
            if len(self._cache) >= self._cache_size:
                # Clearing costs one lookup per live series; it keeps memory
                # bounded without an LRU's bookkeeping on every hit.
                self._cache.clear()
            self._cache[cache_key] = channel
        return channel
