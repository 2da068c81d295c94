"""Test doubles for the proxy's pure layers."""

from __future__ import annotations

from statsd_proxy.batching import MemberChannel
from statsd_proxy.stats import MemberStats


class RecordingSender:
    """A sender that keeps every datagram it is given, with its line count."""

    def __init__(self) -> None:
        self.datagrams: list[bytes] = []
        self.line_counts: list[int] = []

    def send(self, payload: bytes, lines: int) -> None:
        self.datagrams.append(payload)
        self.line_counts.append(lines)

    def close(self) -> None:
        pass


class ChannelFactory:
    """Builds channels with recording senders, noting which channels started a batch."""

    def __init__(self) -> None:
        self.started: list[MemberChannel] = []

    def __call__(self, name: str, limit: int = 1432) -> MemberChannel:
        return MemberChannel(name, limit, RecordingSender(), MemberStats(), self.started.append)


def sent(channel: MemberChannel) -> list[bytes]:
    """Return the datagrams a channel built with `ChannelFactory` has sent."""
    sender = channel.sender
    assert isinstance(sender, RecordingSender)
    return sender.datagrams
