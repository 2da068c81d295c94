"""``statsd-proxy ring``: inspect rings and plan changes before making them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from statsd_proxy.config import parse_backend
from statsd_proxy.hashring import ConsistentRing, moved_share, sample_keys, shares
from statsd_proxy.lines import key_function
from statsd_proxy.ringdoc import RingFormatError, parse_ring


def add_ring_commands(commands: Any) -> None:
    """Add ``ring plan`` to the subcommand group."""
    ring = commands.add_parser("ring", help="inspect and plan rings", description=__doc__)
    actions = ring.add_subparsers(dest="ring_command", required=True, metavar="ACTION")
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
        help="file of StatsD lines or keys, one per line (default: 20,000 synthetic series keys)",
    )
    plan.add_argument(
        "--hash-key",
        choices=("series", "name"),
        default="series",
        help="how lines in --keys are turned into routing keys (default: series)",
    )
    plan.set_defaults(handler=_plan_command)


def load_member_names(text: str) -> list[str]:
    """Read member names from a ring.json file or a comma-separated list."""
    path = Path(text)
    if path.is_file():
        return [member.name for member in parse_ring(path.read_bytes()).members]
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        parse_backend(f"{name}=127.0.0.1:1")
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
