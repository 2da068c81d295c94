"""The ring.json format: parsing, validation errors and writing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from statsd_proxy.ringdoc import Member, RingDocument, RingFormatError, dump_ring, parse_ring

EXAMPLE = """
{"version": 7, "hashKey": "series", "effectiveAt": "2026-12-04T15:00:10Z",
 "members": [{"name": "main-statsd-0", "host": "10.0.3.17", "port": 8125}]}
"""


def test_parse_example() -> None:
    ring = parse_ring(EXAMPLE)

    assert ring.version == 7
    assert ring.hash_key == "series"
    assert ring.effective_at == datetime(2026, 12, 4, 15, 0, 10, tzinfo=UTC)
    assert ring.members == (Member("main-statsd-0", "10.0.3.17", 8125),)


def test_dump_parse_round_trip() -> None:
    ring = RingDocument(
        version=3,
        members=(
            Member("b", "shard-b.example.internal", 8125, max_datagram=8932),
            Member("a", "::1", 9125),
        ),
        hash_key="name",
        effective_at=datetime(2026, 12, 4, 15, 0, 10, 250000, tzinfo=UTC),
    )

    parsed = parse_ring(dump_ring(ring))

    assert parsed.version == ring.version
    assert parsed.hash_key == ring.hash_key
    assert parsed.effective_at == ring.effective_at
    assert parsed.member_names == ring.member_names
    assert parsed.members[0] == Member("a", "::1", 9125)


def test_dump_sorts_members() -> None:
    ring = RingDocument(version=1, members=(Member("z", "h", 1), Member("a", "h", 1)))

    names = [m["name"] for m in json.loads(dump_ring(ring))["members"]]

    assert names == ["a", "z"]


def test_unknown_fields_ignored() -> None:
    text = (
        '{"version": 1, "future": true, '
        '"members": [{"name": "a", "host": "h", "port": 1, "zone": "x"}]}'
    )

    assert parse_ring(text).members == (Member("a", "h", 1),)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"members": []}', "version: must be an integer"),
        ('{"version": true, "members": []}', "version: must be an integer"),
        ('{"version": -1, "members": []}', "version: must be at least 0"),
        ('{"version": 1}', "members: must be a list"),
        ('{"version": 1, "members": [1]}', r"members\[0\]: must be an object"),
        ('{"version": 1, "members": [{"host": "h", "port": 1}]}', r"members\[0\].name"),
        (
            '{"version": 1, "members": [{"name": "-a", "host": "h", "port": 1}]}',
            "invalid member name '-a'",
        ),
        ('{"version": 1, "members": [{"name": "a", "host": "", "port": 1}]}', r"members\[0\].host"),
        ('{"version": 1, "members": [{"name": "a", "host": "h", "port": 70000}]}', "at most 65535"),
        (
            '{"version": 1, "members": [{"name": "a", "host": "h", "port": "1"}]}',
            r"port: must be an integer",
        ),
        (
            '{"version": 1, "members": [{"name": "a", "host": "h", "port": 1, "maxDatagram": 10}]}',
            "maxDatagram: must be at least 64",
        ),
        (
            '{"version": 1, "members": [{"name": "a", "host": "h", "port": 1}, '
            '{"name": "a", "host": "g", "port": 2}]}',
            "duplicate member name 'a'",
        ),
        (
            '{"version": 1, "hashKey": "tags", "members": []}',
            "hashKey: must be one of series, name",
        ),
        ('{"version": 1, "effectiveAt": "soon", "members": []}', "effectiveAt: invalid RFC 3339"),
        ('{"version": 1, "effectiveAt": "2026-12-04T15:00:10", "members": []}', "no UTC offset"),
    ],
)
def test_invalid_documents(document: str, message: str) -> None:
    with pytest.raises(RingFormatError, match=message):
        parse_ring(document)


def test_member_address_brackets_ipv6() -> None:
    assert Member("a", "::1", 8125).address == "[::1]:8125"
