"""Routing keys for StatsD lines of every common dialect.

This module is pure: no I/O, no asyncio. It reads just enough of a line to
find what identifies its series, and never interprets values or sample
rates. Supported shapes::

    users.logins:1|c                          plain StatsD
    users.logins,country=US,host=web-a:1|c    Influx/Telegraf tags in the name
    users.logins;country=US;host=web-a:1|c    Graphite tags in the name
    api.latency:12:15:9|d|@0.5|#env:prod      DogStatsD tags, multi-value
    _e{5,4}:title|text|#t:v                   DogStatsD event (routed by title)
    _sc|name|0|#t:v                           DogStatsD service check (by name)

A metric line is valid when it has a non-empty name, a ``:`` after the name
and a ``|`` after that ``:``. Key functions return ``None`` for anything else.
"""

from __future__ import annotations

from collections.abc import Callable

RouteKeyFunction = Callable[[bytes], bytes | None]

# Separates the name from the sorted tags in a series key. No StatsD dialect
# uses this byte in names. A name that did contain it could share a key with
# a name-plus-tags key, which would only put both on one shard.
_TAG_SEPARATOR = b"\x1f"
_EVENT_PREFIX = b"_e{"
_SERVICE_CHECK_PREFIX = b"_sc|"


def split_lines(datagram: bytes) -> list[bytes]:
    """Split a datagram into lines on ``\\n``, tolerating ``\\r\\n``.

    The end of the datagram ends the last line, so a trailing newline adds no
    empty line. Blank lines inside the datagram are kept as ``b""`` so that a
    caller can count them.
    """
    lines = datagram.split(b"\n")
    if not lines[-1]:
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def is_special(line: bytes) -> bool:
    """Tell whether a line is a DogStatsD event or service check."""
    return line.startswith(_EVENT_PREFIX) or line.startswith(_SERVICE_CHECK_PREFIX)


def cache_key(line: bytes, with_dogstatsd_tags: bool) -> bytes | None:
    """Return the raw bytes that decide a metric line's route, or ``None``.

    Only for metric lines: events and service checks (see `is_special`) must
    be routed by their own keys.

    That is the text before the first ``:`` (name plus any Influx or Graphite
    tags) and, when ``with_dogstatsd_tags`` is set, the ``|#`` section. Two
    lines with equal cache keys always have equal route keys, so a router may
    cache routes by this key without building the canonical one. Returns
    ``None`` when the line lacks the ``:`` or the following ``|``.
    """
    colon = line.find(b":")
    if colon <= 0:
        return None
    if not with_dogstatsd_tags:
        return line[:colon] if line.find(b"|", colon) > 0 else None
    tags = line.find(b"|#", colon)
    if tags < 0:
        return line[:colon] if line.find(b"|", colon) > 0 else None
    end = line.find(b"|", tags + 2)
    # A newline never occurs inside a line, so it cannot make two different
    # head and tag pairs look alike.
    return line[:colon] + b"\n" + (line[tags:] if end < 0 else line[tags:end])


def series_key(line: bytes) -> bytes | None:
    """Return the routing key of ``--hash-key series``: name plus sorted tags.

    Tags of every dialect count, and their order does not: ``m,a=1,b=2:1|c``
    and ``m,b=2,a=1:1|c`` have the same key.
    """
    if is_special(line):
        return _special_key(line)
    head, dogstatsd_tags = _split_metric(line)
    if head is None:
        return None
    name, inline_tags = _split_head(head)
    if not name:
        return None
    tags = [tag for tag in inline_tags.replace(b";", b",").split(b",") if tag]
    if dogstatsd_tags:
        tags.extend(tag for tag in dogstatsd_tags.split(b",") if tag)
    if not tags:
        return name
    tags.sort()
    return name + _TAG_SEPARATOR + b",".join(tags)


def name_key(line: bytes) -> bytes | None:
    """Return the routing key of ``--hash-key name``: the metric name alone."""
    if is_special(line):
        return _special_key(line)
    head, _ = _split_metric(line)
    if head is None:
        return None
    name, _ = _split_head(head)
    return name or None


def key_function(hash_key: str) -> RouteKeyFunction:
    """Return the key function for a ``--hash-key`` mode."""
    if hash_key == "series":
        return series_key
    if hash_key == "name":
        return name_key
    raise ValueError(f"unknown hash key mode {hash_key!r}; expected 'series' or 'name'")


def _split_metric(line: bytes) -> tuple[bytes | None, bytes]:
    """Split a metric line into its head and its DogStatsD tag text."""
    colon = line.find(b":")
    if colon <= 0 or line.find(b"|", colon) < 0:
        return None, b""
    tags = line.find(b"|#", colon)
    if tags < 0:
        return line[:colon], b""
    end = line.find(b"|", tags + 2)
    return line[:colon], line[tags + 2 :] if end < 0 else line[tags + 2 : end]


def _split_head(head: bytes) -> tuple[bytes, bytes]:
    """Split the text before ``:`` into the name and its Influx or Graphite tags."""
    end = len(head)
    for separator in (b",", b";", b"|"):
        position = head.find(separator)
        if 0 <= position < end:
            end = position
    return head[:end], head[end + 1 :]


def _special_key(line: bytes) -> bytes | None:
    if line.startswith(_SERVICE_CHECK_PREFIX):
        start = len(_SERVICE_CHECK_PREFIX)
        end = line.find(b"|", start)
        name = line[start:] if end < 0 else line[start:end]
        return b"_sc|" + name if name else None
    return _event_key(line)


def _event_key(line: bytes) -> bytes | None:
    """Return the key of an event, ``_e{TITLE_LEN,TEXT_LEN}:title|text``, by title."""
    close = line.find(b"}:", len(_EVENT_PREFIX))
    if close < 0:
        return None
    lengths = line[len(_EVENT_PREFIX) : close].split(b",")
    if len(lengths) != 2 or not all(part.isdigit() for part in lengths):
        return None
    title_start = close + 2
    title_end = title_start + int(lengths[0])
    title = line[title_start:title_end]
    if (
        not title
        or len(title) != title_end - title_start
        or line[title_end : title_end + 1] != b"|"
    ):
        return None
    return b"_e|" + title
