"""Settings of ``statsd-proxy run`` and the parsers that validate them.

Each parser raises `ValueError` with the accepted form in the message; the
command line turns that into an error naming the option and the value.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math

from statsd_proxy.ringdoc import (
    MAX_DATAGRAM,
    MIN_DATAGRAM,
    Member,
    RingFormatError,
    validate_max_datagram,
    validate_member_name,
)

DEFAULT_MAX_DATAGRAM = 1432
DEFAULT_FLUSH_INTERVAL_MS = 2.0
DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024
# setsockopt takes a C int.
MAX_RECEIVE_BUFFER = 2**31 - 1
# More workers than this only add scheduling overhead on any usual node.
MAX_WORKERS = 64
# Batches wait at most this long; StatsD flush windows are seconds long.
MAX_FLUSH_INTERVAL_MS = 1000.0


@dataclasses.dataclass(frozen=True, slots=True)
class HostPort:
    """A host and port to listen on or connect to."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Everything ``statsd-proxy run`` needs, validated."""

    listen: HostPort = HostPort("0.0.0.0", 8125)
    tcp: bool = False
    backends: tuple[Member, ...] = ()
    ring_configmap: str | None = None
    ring_file: str | None = None
    ring_endpoints: str | None = None
    endpoint_port_name: str = "statsd"
    unready_policy: str = "hold"
    resolve_interval: float = 30.0
    hash_key: str = "series"
    max_datagram: int = DEFAULT_MAX_DATAGRAM
    flush_interval_ms: float = DEFAULT_FLUSH_INTERVAL_MS
    receive_buffer: int = DEFAULT_RECEIVE_BUFFER
    route_cache_size: int = 50_000
    workers: int = 1
    metrics_listen: HostPort | None = HostPort("0.0.0.0", 9102)
    log_format: str = "json"
    log_level: str = "info"

    @property
    def source_kind(self) -> str:
        """Which membership source this configuration uses."""
        if self.ring_configmap:
            return "configmap"
        if self.ring_file:
            return "file"
        if self.ring_endpoints:
            return "endpoints"
        return "static"


def parse_host_port(text: str) -> HostPort:
    """Parse ``HOST:PORT`` or ``[IPV6]:PORT``."""
    host, separator, port_text = text.rpartition(":")
    if not separator or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as error:
            raise ValueError(f"invalid IPv6 address {host!r} in {text!r}: {error}") from error
    elif ":" in host:
        raise ValueError(f"put an IPv6 address in brackets, as in [::1]:8125, got {text!r}")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {port_text!r}")
    return HostPort(host, int(port_text))


def parse_backend(text: str) -> Member:
    """Parse ``NAME=HOST:PORT[,max-datagram=BYTES]`` into a ring member."""
    name, separator, rest = text.partition("=")
    if not separator:
        raise ValueError(f"expected NAME=HOST:PORT[,max-datagram=BYTES], got {text!r}")
    address_text, _, options = rest.partition(",")
    try:
        validate_member_name(name, "name")
    except RingFormatError as error:
        raise ValueError(str(error)) from error
    address = parse_host_port(address_text)
    if address.port == 0:
        raise ValueError(f"port 0 is not a valid backend port in {text!r}")
    max_datagram: int | None = None
    if options:
        key, _, value = options.partition("=")
        if key != "max-datagram" or not value.isdigit():
            raise ValueError(f"the only backend option is max-datagram=BYTES, got {options!r}")
        max_datagram = parse_datagram_size(value)
    return Member(name=name, host=address.host, port=address.port, max_datagram=max_datagram)


def parse_datagram_size(text: str) -> int:
    """Parse a datagram size in bytes, within what one UDP datagram can carry."""
    try:
        return validate_max_datagram(int(text), "size")
    except (ValueError, RingFormatError) as error:
        raise ValueError(
            f"expected bytes from {MIN_DATAGRAM} to {MAX_DATAGRAM}, got {text!r}"
        ) from error


def parse_namespaced_name(text: str) -> str:
    """Check the form ``NAMESPACE/NAME`` and return it unchanged."""
    namespace, separator, name = text.partition("/")
    if not separator or not namespace or not name or "/" in name:
        raise ValueError(f"expected NAMESPACE/NAME, got {text!r}")
    return text


def parse_positive_int(text: str) -> int:
    """Parse a whole number of at least 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def parse_non_negative_float(text: str) -> float:
    """Parse a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError as error:
        raise ValueError(f"expected a number, got {text!r}") from error
    if not 0 <= value < math.inf:
        raise ValueError(f"expected a finite number of at least 0, got {text!r}")
    return value


def parse_flush_interval(text: str) -> float:
    """Parse the batching delay in milliseconds, at most one second."""
    value = parse_non_negative_float(text)
    if value > MAX_FLUSH_INTERVAL_MS:
        raise ValueError(f"expected milliseconds from 0 to {MAX_FLUSH_INTERVAL_MS:g}, got {text!r}")
    return value


def parse_workers(text: str) -> int:
    """Parse a worker process count."""
    value = parse_positive_int(text)
    if value > MAX_WORKERS:
        raise ValueError(f"expected from 1 to {MAX_WORKERS} workers, got {text!r}")
    return value


def parse_receive_buffer(text: str) -> int:
    """Parse a receive buffer size in bytes; 0 keeps the kernel's default."""
    if not text.strip().isdigit() or int(text) > MAX_RECEIVE_BUFFER:
        raise ValueError(f"expected bytes from 0 to {MAX_RECEIVE_BUFFER}, got {text!r}")
    return int(text)


def parse_bool(text: str) -> bool:
    """Parse an environment variable's truth value."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")
