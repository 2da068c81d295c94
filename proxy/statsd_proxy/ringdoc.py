"""The ring document, ``ring.json``: the shard list that proxies route with.

The operator writes this document into the ring ConfigMap and the proxies read
it from the API, from a mounted file or build it from their flags. This module
is the one place that parses, validates and serialises it, so both sides agree
on the format::

    {"version": 7, "hashKey": "series", "effectiveAt": "2026-12-04T15:00:10Z",
     "members": [{"name": "main-statsd-0", "host": "10.0.3.17", "port": 8125}]}

A document that fails validation is rejected whole with a `RingFormatError`
naming the field, so a caller can keep routing with the ring it already has.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

HashKey = Literal["series", "name"]
HASH_KEYS: tuple[HashKey, ...] = ("series", "name")

# A UDP payload over IPv4 carries at most 65,507 bytes; below 64 bytes a
# batch could not hold an ordinary StatsD line.
MIN_DATAGRAM = 64
MAX_DATAGRAM = 65507

# Member names become Kubernetes object names and Prometheus label values.
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")


class RingFormatError(ValueError):
    """A ring document that cannot be used, with the offending field in the message."""


@dataclasses.dataclass(frozen=True, slots=True)
class Member:
    """One shard: its stable ring name and the address its lines are sent to."""

    name: str
    host: str
    port: int
    max_datagram: int | None = None

    @property
    def address(self) -> str:
        """The address as ``host:port``, with brackets around an IPv6 host."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class RingDocument:
    """A validated ring: a version, the members and how keys are hashed."""

    version: int
    members: tuple[Member, ...]
    hash_key: HashKey | None = None
    effective_at: datetime | None = None

    @property
    def member_names(self) -> frozenset[str]:
        """The set of member names, the ring's identity for hashing."""
        return frozenset(member.name for member in self.members)


def parse_ring(text: str | bytes) -> RingDocument:
    """Parse and validate a ``ring.json`` text.

    Raises `RingFormatError` for invalid JSON or any invalid field. Unknown
    top-level and member fields are ignored, so an older proxy can read a ring
    written by a newer operator.
    """
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RingFormatError(f"ring document is not valid JSON: {error}") from error
    return ring_from_mapping(raw)


def ring_from_mapping(raw: object) -> RingDocument:
    """Validate a decoded ``ring.json`` object and build a `RingDocument`."""
    if not isinstance(raw, Mapping):
        raise RingFormatError(f"ring document must be a JSON object, got {type(raw).__name__}")
    version = _require_int(raw.get("version"), "version", minimum=0)
    members_raw = raw.get("members")
    if not isinstance(members_raw, list):
        raise RingFormatError(f"members: must be a list, got {members_raw!r}")
    members = tuple(_member_from_mapping(item, index) for index, item in enumerate(members_raw))
    check_unique_names(members)
    return RingDocument(
        version=version,
        members=members,
        hash_key=_parse_hash_key(raw.get("hashKey")),
        effective_at=_parse_time(raw.get("effectiveAt")),
    )


def dump_ring(ring: RingDocument) -> str:
    """Serialise a ring to ``ring.json`` text, members sorted by name."""
    document: dict[str, Any] = {"version": ring.version}
    if ring.hash_key is not None:
        document["hashKey"] = ring.hash_key
    if ring.effective_at is not None:
        document["effectiveAt"] = format_time(ring.effective_at)
    document["members"] = [_member_to_mapping(m) for m in sorted_members(ring.members)]
    return json.dumps(document, indent=2) + "\n"


def sorted_members(members: Iterable[Member]) -> list[Member]:
    """Return members ordered by name, the canonical order of a ring."""
    return sorted(members, key=lambda member: member.name)


def check_unique_names(members: Iterable[Member]) -> None:
    """Raise `RingFormatError` when two members share a name."""
    seen: set[str] = set()
    for member in members:
        if member.name in seen:
            raise RingFormatError(f"members: duplicate member name {member.name!r}")
        seen.add(member.name)


def validate_member_name(name: object, field: str) -> str:
    """Return ``name`` if it is a usable member name, else raise `RingFormatError`."""
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise RingFormatError(
            f"{field}: invalid member name {name!r}; use letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit"
        )
    return name


def validate_max_datagram(value: object, field: str) -> int:
    """Return ``value`` if it is a usable datagram size in bytes, else raise."""
    return _require_int(value, field, minimum=MIN_DATAGRAM, maximum=MAX_DATAGRAM)


def format_time(moment: datetime) -> str:
    """Format a time as RFC 3339 in UTC with a ``Z`` suffix."""
    utc = moment.astimezone(UTC)
    text = utc.isoformat(timespec="milliseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _member_from_mapping(raw: object, index: int) -> Member:
    field = f"members[{index}]"
    if not isinstance(raw, Mapping):
        raise RingFormatError(f"{field}: must be an object, got {raw!r}")
    name = validate_member_name(raw.get("name"), f"{field}.name")
    host = raw.get("host")
    if not isinstance(host, str) or not host or any(c.isspace() for c in host):
        raise RingFormatError(f"{field}.host: must be an IP address or DNS name, got {host!r}")
    port = _require_int(raw.get("port"), f"{field}.port", minimum=1, maximum=65535)
    max_datagram = raw.get("maxDatagram")
    if max_datagram is not None:
        max_datagram = validate_max_datagram(max_datagram, f"{field}.maxDatagram")
    return Member(name=name, host=host.strip("[]"), port=port, max_datagram=max_datagram)


def _member_to_mapping(member: Member) -> dict[str, Any]:
    mapping: dict[str, Any] = {"name": member.name, "host": member.host, "port": member.port}
    if member.max_datagram is not None:
        mapping["maxDatagram"] = member.max_datagram
    return mapping


def _require_int(
    value: object, field: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    # bool is a subclass of int, but `true` is never a valid count or port.
    if not isinstance(value, int) or isinstance(value, bool):
        raise RingFormatError(f"{field}: must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise RingFormatError(f"{field}: must be at least {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise RingFormatError(f"{field}: must be at most {maximum}, got {value!r}")
    return value


def _parse_hash_key(value: object) -> HashKey | None:
    if value is None:
        return None
    if value == "series":
        return "series"
    if value == "name":
        return "name"
    raise RingFormatError(f"hashKey: must be one of {', '.join(HASH_KEYS)}, got {value!r}")


def _parse_time(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RingFormatError(f"effectiveAt: must be an RFC 3339 time string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise RingFormatError(f"effectiveAt: invalid RFC 3339 time {value!r}") from error
    if moment.tzinfo is None:
        raise RingFormatError(f"effectiveAt: time {value!r} has no UTC offset; add 'Z'")
    return moment
