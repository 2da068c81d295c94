"""The ring file source: follow a ``ring.json`` on disk, such as a mounted ConfigMap.

The kubelet updates a ConfigMap volume atomically. It writes the new files
into a fresh hidden directory and then renames a ``..data`` symlink onto
that directory, and the visible ``ring.json`` is a symlink through
``..data``. So the file behind the path is replaced rather than rewritten,
and this source polls the path with every symlink resolved, plus that
file's inode, size and modification time. It reads the file again when any
of them changes, and parses it again only when the content hash changed.

A missing, unreadable or invalid file keeps the ring in use, marks it stale
and counts one discovery error per change of the file (``missing``,
``read`` or ``invalid``), not one per poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass

import structlog

from statsd_proxy.ringdoc import RingFormatError, parse_ring
from statsd_proxy.sources import RingSink
from statsd_proxy.sources.publish import RingPublisher

log = structlog.get_logger("statsd_proxy.sources")

POLL_SECONDS = 1.0


Identity = tuple[str, int, int, int, int]


@dataclass(frozen=True, slots=True)
class _FileState:
    """The result of one poll: the file's identity and new content, or an error."""

    identity: Identity | None = None
    content: bytes | None = None
    error_kind: str | None = None
    error: str = ""


class RingFileSource:
    """Polls a ``ring.json`` path and submits every new valid ring in it."""

    def __init__(self, path: str, *, interval: float = POLL_SECONDS) -> None:
        self.path = path
        self._interval = interval
        self._identity: Identity | None = None
        self._digest: bytes | None = None
        self._error: str | None = None

    async def run(self, sink: RingSink) -> None:
        """Poll the file until cancelled."""
        publisher = RingPublisher(sink, f"file {self.path}")
        log.info("ring_file_watch_started", path=self.path, interval_seconds=self._interval)
        while True:
            await self._poll(publisher)
            await asyncio.sleep(self._interval)

    async def _poll(self, publisher: RingPublisher) -> None:
        state = await asyncio.to_thread(_read, self.path, self._identity)
        if state.error_kind is not None:
            self._identity = None
            self._digest = None
            if state.error != self._error:
                self._error = state.error
                publisher.fail(state.error_kind, state.error)
            return
        self._error = None
        if state.content is None:
            return  # the same file as at the last poll
        self._identity = state.identity
        digest = hashlib.sha256(state.content).digest()
        if digest == self._digest:
            return
        self._digest = digest
        try:
            document = parse_ring(state.content)
        except RingFormatError as error:
            publisher.fail("invalid", f"invalid ring file: {error}")
            return
        await publisher.offer(document)


def _read(path: str, previous: Identity | None) -> _FileState:
    """Resolve ``path`` and read the file unless its identity equals ``previous``."""
    target = os.path.realpath(path)
    try:
        stat = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        return _FileState(error_kind="missing", error=f"{path} does not exist")
    except OSError as error:
        return _FileState(error_kind="read", error=f"cannot read {path}: {error}")
    identity = (target, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if identity == previous:
        return _FileState(identity)
    try:
        with open(target, "rb") as file:
            content = file.read()
    except OSError as error:
        return _FileState(error_kind="read", error=f"cannot read {path}: {error}")
    return _FileState(identity, content)
