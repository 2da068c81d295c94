"""The consistent hash ring: agreement between replicas and keys moved by changes."""

from __future__ import annotations

import random

import pytest
from statsd_proxy.hashring import ConsistentRing, moved_share, sample_keys, shares

NAMES = [f"main-statsd-{index}" for index in range(5)]
KEYS = [b"series.%d" % index for index in range(10_000)]


def test_member_order_irrelevant() -> None:
    shuffled = NAMES[:]
    random.Random(7).shuffle(shuffled)
    first = ConsistentRing(NAMES)
    second = ConsistentRing(reversed(shuffled))

    differing = [key for key in KEYS if first.lookup(key) != second.lookup(key)]

    assert differing == []


def test_lookup_stable_across_instances() -> None:
    assert ConsistentRing(NAMES).lookup(b"users.logins") == ConsistentRing(NAMES).lookup(
        b"users.logins"
    )


@pytest.mark.parametrize("size", [2, 3, 4, 8])
def test_adding_member_moves_about_one_in_n(size: int) -> None:
    names = [f"shard-{index}" for index in range(size)]
    before = ConsistentRing(names)
    after = ConsistentRing([*names, f"shard-{size}"])

    share = moved_share(before, after, KEYS)

    expected = 1 / (size + 1)
    assert abs(share - expected) < 0.06, f"moved {share:.3f}, expected about {expected:.3f}"


def test_added_member_takes_all_moved_keys() -> None:
    before = ConsistentRing(NAMES[:3])
    after = ConsistentRing(NAMES[:4])

    moved_to = {after.lookup(key) for key in KEYS if before.lookup(key) != after.lookup(key)}

    assert moved_to == {NAMES[3]}


def test_removing_member_moves_only_its_keys() -> None:
    before = ConsistentRing(NAMES)
    after = ConsistentRing(NAMES[:-1])

    moved_from = {before.lookup(key) for key in KEYS if before.lookup(key) != after.lookup(key)}

    assert moved_from == {NAMES[-1]}


def test_shares_cover_every_member() -> None:
    ring = ConsistentRing(NAMES)

    result = shares(ring, sample_keys())

    assert set(result) == set(NAMES)
    assert abs(sum(result.values()) - 1.0) < 1e-9
    assert min(result.values()) > 0.1


def test_empty_ring_lookup_raises() -> None:
    with pytest.raises(LookupError, match="no members"):
        ConsistentRing(()).lookup(b"m")


def test_moved_share_from_empty_ring() -> None:
    assert moved_share(ConsistentRing(()), ConsistentRing(NAMES)) == 1.0
