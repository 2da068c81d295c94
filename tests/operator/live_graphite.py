"""A Graphite plaintext receiver that records every StatsD flush with its arrival time.

Etsy StatsD 0.9's graphite backend opens one TCP connection per flush and
writes every key of that flush into it, so one connection is one flush of one
shard. The receiver stamps each connection with the wall-clock time it was
accepted, which is the shard's flush time plus the loopback connect time, and
keeps the counters that the flush carried.

With ``legacyNamespace: false`` and the shard's pod name as ``globalPrefix``
(the operator's statsd flavor), a counter arrives as
``main-statsd-0.counters.users.logins.count 3 1733324410``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socketserver
import threading
import time
from collections.abc import Iterator, Sequence

from tests.support.pipeline_process import LOOPBACK

STOP_SECONDS = 5.0
COUNTER_PART = ".counters."
COUNT_SUFFIX = ".count"


@dataclasses.dataclass(frozen=True)
class Flush:
    """One flush of one shard: when it arrived and the counts it carried."""

    shard: str
    # Wall-clock seconds (time.time()) when the receiver accepted the connection.
    received_at: float
    # The Unix time that StatsD wrote on the lines, rounded to whole seconds.
    stamp: int
    # Counter name -> count flushed for the window that this flush closes.
    counts: dict[str, float]


def parse_flush(lines: Sequence[str], received_at: float) -> Flush | None:
    """Build a Flush from the lines of one connection, or None when there are none.

    Raises ValueError when the lines do not all come from one shard or a line
    is not ``key value timestamp``.
    """
    fields = [line.split() for line in lines if line.strip()]
    if not fields:
        return None
    shards = {parts[0].split(".", 1)[0] for parts in fields}
    if len(shards) != 1:
        raise ValueError(f"one flush carried keys of several shards: {sorted(shards)!r}")
    shard = shards.pop()
    counts: dict[str, float] = {}
    for parts in fields:
        if len(parts) != 3:
            raise ValueError(f"invalid graphite line {' '.join(parts)!r}")
        key, value, _ = parts
        prefix = shard + COUNTER_PART
        if key.startswith(prefix) and key.endswith(COUNT_SUFFIX):
            counts[key[len(prefix) : -len(COUNT_SUFFIX)]] = float(value)
    return Flush(shard, received_at, int(fields[0][2]), counts)


class GraphiteReceiver(socketserver.ThreadingTCPServer):
    """Receives Graphite plaintext on loopback and keeps one Flush per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _FlushHandler)
        self._lock = threading.Lock()
        self._flushes: list[Flush] = []
        self.errors: list[str] = []

    @property
    def port(self) -> int:
        """TCP port the receiver listens on."""
        port: int = self.server_address[1]
        return port

    def record(self, flush: Flush) -> None:
        """Keep one flush."""
        with self._lock:
            self._flushes.append(flush)

    def flushes(self, shard: str | None = None) -> list[Flush]:
        """Return the flushes received so far, of one shard or of all, oldest first."""
        with self._lock:
            found = list(self._flushes)
        if shard is not None:
            found = [flush for flush in found if flush.shard == shard]
        return sorted(found, key=lambda flush: flush.received_at)


class _FlushHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        received_at = time.time()
        server = self.server
        assert isinstance(server, GraphiteReceiver)
        lines = [raw.decode(errors="replace") for raw in self.rfile]
        try:
            flush = parse_flush(lines, received_at)
        except ValueError as error:
            server.errors.append(str(error))
            return
        if flush is not None:
            server.record(flush)


@contextlib.contextmanager
def running_receiver() -> Iterator[GraphiteReceiver]:
    """Serve a GraphiteReceiver in a thread until the block ends."""
    receiver = GraphiteReceiver()
    thread = threading.Thread(target=receiver.serve_forever, name="graphite", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join(timeout=STOP_SECONDS)
