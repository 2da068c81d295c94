"""``statsd-proxy ring``: inspect rings and plan changes before making them.

``ring show`` takes the same source options as ``statsd-proxy run`` (and the
same ``STATSD_PROXY_*`` environment variables, so inside a proxy pod it needs
no flags), reads the source once and prints the ring it holds. ``ring plan``
compares two rings on a sample of keys.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from statsd_proxy.config import ProxyConfig, parse_backend
from statsd_proxy.hashring import ConsistentRing, moved_share, sample_keys, shares
from statsd_proxy.lines import key_function
from statsd_proxy.ringdoc import (
    RingDocument,
    RingFormatError,
    dump_ring,
    format_time,
    parse_ring,
    sorted_members,
)
from statsd_proxy.sources import make_source
from statsd_proxy.stats import ProxyStats


def add_ring_commands(commands: Any) -> None:
    """Add ``ring show`` and ``ring plan`` to the subcommand group."""
    ring = commands.add_parser("ring", help="inspect and plan rings", description=__doc__)
    actions = ring.add_subparsers(dest="ring_command", required=True, metavar="ACTION")
    add_show_command(actions)
    plan = actions.add_parser(
        "plan",
        help="show how a ring change would move keys",
        description="Compare two rings: each member's share before and after, and the "
        "share of keys that would move to another member.",
    )
    plan.add_argument("before", help="ring.json file, or a comma-separated list of member names")
    plan.add_argument("after", help="ring.json file, or a comma-separated list of member names")
    plan.add_argument(
        "--keys",
        help="file of StatsD lines or keys, one per line (default: 4,096 synthetic series keys)",
    )
    plan.add_argument(
        "--hash-key",
        choices=("series", "name"),
        default="series",
        help="how lines in --keys are turned into routing keys (default: series)",
    )
    plan.set_defaults(handler=_plan_command)


def load_member_names(text: str) -> list[str]:
    """Read member names from a ring.json file or a comma-separated list.

    Text with a ``/`` or ending in ``.json`` is a file name; anything else is
    a list of names.
    """
    if "/" in text or text.endswith(".json"):
        return [member.name for member in parse_ring(Path(text).read_bytes()).members]
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError(f"no member names in {text!r}; give a ring.json file or NAME,NAME,...")
    for name in names:
        parse_backend(f"{name}=127.0.0.1:1")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate member names {duplicates!r} in {text!r}")
    return names


def load_keys(path: str | None, hash_key: str) -> list[bytes]:
    """Return routing keys from a file of lines, or the synthetic sample."""
    if path is None:
        return sample_keys()
    to_key = key_function(hash_key)
    keys = []
    for line in Path(path).read_bytes().splitlines():
        if not line.strip():
            continue
        # A bare key without ':' and '|' is taken as a routing key as it is.
        keys.append(to_key(line) or line)
    return keys


def _plan_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        before = ConsistentRing(load_member_names(args.before))
        after = ConsistentRing(load_member_names(args.after))
        keys = load_keys(args.keys, args.hash_key)
    except (OSError, RingFormatError, ValueError) as error:
        parser.error(str(error))
    before_shares = shares(before, keys) if len(before) else {}
    after_shares = shares(after, keys) if len(after) else {}
    print(f"keys: {len(keys)}")
    print(f"{'member':<32} {'before':>8} {'after':>8}")
    for name in sorted(set(before_shares) | set(after_shares)):
        old = _percent(before_shares.get(name))
        new = _percent(after_shares.get(name))
        print(f"{name:<32} {old:>8} {new:>8}")
    print(f"moved: {moved_share(before, after, keys):.2%}")
    return 0


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.2%}"


DEFAULT_TIMEOUT = 10.0


def add_show_command(actions: Any) -> None:
    """Add ``ring show`` with the source options of ``run``."""
    from statsd_proxy.cli import add_run_options

    show = actions.add_parser(
        "show",
        help="print the ring a membership source holds now",
        description="Read the membership source once and print its ring: version, switch "
        "time, hash key, and each member's address and readiness. Takes the source options "
        "of 'statsd-proxy run' and their STATSD_PROXY_* environment variables; options that "
        "only matter to a running proxy are accepted and ignored.",
    )
    add_run_options(show)
    show.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for the source (default: {DEFAULT_TIMEOUT:g})",
    )
    show.add_argument(
        "--output",
        choices=("text", "json"),
        default="text",
        help="text: a readable summary; json: the ring as ring.json (default: text)",
    )
    show.set_defaults(handler=_show_command)


class CapturingSink:
    """A sink that keeps the first ring a source submits, or the reason it failed."""

    def __init__(self, unready_policy: str) -> None:
        self.stats = ProxyStats()
        self.stats.unready_policy = unready_policy
        self.document: RingDocument | None = None
        self.failure: str | None = None
        self.done = asyncio.Event()

    async def submit(self, document: RingDocument) -> None:
        """Keep ``document`` unless it has no members."""
        if not document.members:
            self.report_source_failure("the source returned a ring with no members")
            return
        self.document = document
        self.done.set()

    def report_source_failure(self, reason: str) -> None:
        """Keep the reason the source failed."""
        self.failure = reason
        self.done.set()


async def read_ring(config: ProxyConfig, wait_seconds: float) -> CapturingSink:
    """Run the source of ``config`` until it submits a ring or fails, within ``wait_seconds``."""
    sink = CapturingSink(config.unready_policy)
    task = asyncio.create_task(make_source(config).run(sink), name="ring-source")
    waiter = asyncio.create_task(sink.done.wait(), name="ring-wait")
    try:
        await asyncio.wait(
            {task, waiter}, timeout=wait_seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for pending in (task, waiter):
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
    if sink.document is None and sink.failure is None:
        if task.done() and not task.cancelled() and task.exception() is not None:
            sink.failure = f"the membership source failed: {task.exception()!r}"
        else:
            sink.failure = f"no ring from the source within {wait_seconds:g} s"
    return sink


def describe_source(config: ProxyConfig) -> str:
    """Name the source of ``config`` the way the options do."""
    kind = config.source_kind
    if kind == "configmap":
        return f"ConfigMap {config.ring_configmap} (key ring.json)"
    if kind == "file":
        return f"file {config.ring_file}"
    if kind == "endpoints":
        return (
            f"EndpointSlices of Service {config.ring_endpoints}, port {config.endpoint_port_name}, "
            f"unready policy {config.unready_policy}"
        )
    return "--backend options"


async def print_ring(
    config: ProxyConfig, sink: CapturingSink, out: TextIO, now: datetime | None = None
) -> None:
    """Print the ring in ``sink`` as a readable summary."""
    document = sink.document
    assert document is not None
    moment = now or datetime.now(UTC)
    print(f"source:       {describe_source(config)}", file=out)
    print(f"version:      {document.version}", file=out)
    print(f"effective at: {_effective(document, moment)}", file=out)
    hash_key = document.hash_key or config.hash_key
    origin = "from the ring" if document.hash_key else "from --hash-key"
    print(f"hash key:     {hash_key} ({origin})", file=out)
    print(f"members:      {len(document.members)}", file=out)
    rows: list[tuple[str, ...]] = [("NAME", "ADDRESS", "RESOLVED", "READY", "MAX DATAGRAM")]
    ready = sink.stats.member_ready
    for member in sorted_members(document.members):
        state = {True: "yes", False: "no"}.get(ready.get(member.name, True), "-")
        limit = str(member.max_datagram) if member.max_datagram else "-"
        resolved = await _resolve(member.host)
        rows.append((member.name, member.address, resolved, state, limit))
    _print_table(rows, out)
    left_out = sorted(set(ready) - document.member_names)
    if left_out:
        print(f"not ready, left out of the ring: {', '.join(left_out)}", file=out)


def _effective(document: RingDocument, now: datetime) -> str:
    if document.effective_at is None:
        return "now (no effectiveAt)"
    seconds = (document.effective_at - now).total_seconds()
    when = format_time(document.effective_at)
    if seconds > 0:
        return f"{when} (in {seconds:.1f} s)"
    return f"{when} ({-seconds:.1f} s ago)"


async def _resolve(host: str) -> str:
    """Return the IP address a member's host resolves to, as the proxy would send to it."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "-"
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError as error:
        return f"unresolved ({error.strerror or error})"
    return str(infos[0][4][0])


def _print_table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip(), file=out)


def _show_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from statsd_proxy.cli import check_sources, config_from_args
    from statsd_proxy.logs import configure_logging

    check_sources(args, parser)
    config = config_from_args(args)
    # The reason a source failed is printed below; its log lines would repeat it.
    configure_logging(config.log_format, "error")
    return asyncio.run(_show(config, args.timeout, args.output))


async def _show(config: ProxyConfig, wait_seconds: float, output: str) -> int:
    sink = await read_ring(config, wait_seconds)
    if sink.document is None:
        print(f"statsd-proxy ring show: error: {sink.failure}", file=sys.stderr)
        return 1
    if output == "json":
        sys.stdout.write(dump_ring(sink.document))
    else:
        await print_ring(config, sink, sys.stdout)
    return 0
