"""Traffic files for the load generator: a realistic mix of StatsD lines.

The mix by line share: 40 % counters with Influx-style tags in the name, 30 %
sampled timers with DogStatsD tags, 20 % gauges, 10 % sets. A "series" is a
metric name plus its tags, which is the proxy's routing key; values change
from line to line.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

# Line share of each metric type, in percent.
MIX = (("counter", 40), ("timer", 30), ("gauge", 20), ("set", 10))

SERVICES = ("checkout", "billing", "search", "catalog", "auth", "cart", "orders", "emails")
ROUTES = ("/", "/cart", "/login", "/api/v1/orders", "/api/v1/items", "/search", "/health")
STATUSES = ("200", "201", "204", "301", "400", "404", "500", "503")
REGIONS = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1")

Series = tuple[str, str]  # (text before the value, type section after it)


def _counter(index: int, rng: random.Random) -> Series:
    service = SERVICES[index % len(SERVICES)]
    host = f"web-{rng.randrange(64):02d}"
    route = rng.choice(ROUTES)
    status = rng.choice(STATUSES)
    name = f"app.{service}.http.requests,host={host},route={route},status={status}"
    return name, "c"


def _timer(index: int, rng: random.Random) -> Series:
    service = SERVICES[index % len(SERVICES)]
    query = rng.choice(("select", "insert", "update", "delete"))
    table = f"t{rng.randrange(400)}"
    region = rng.choice(REGIONS)
    tags = f"env:prod,service:{service},query:{query},table:{table},region:{region}"
    return f"app.db.query.duration.{query}", f"ms|@0.1|#{tags}"


def _gauge(index: int, rng: random.Random) -> Series:
    queue = f"q{index % 997}"
    host = f"worker-{rng.randrange(32)}"
    return f"app.queue.depth,queue={queue},host={host}", "g"


def _set(index: int, rng: random.Random) -> Series:
    region = rng.choice(REGIONS)
    page = rng.choice(ROUTES)
    return f"app.users.unique,region={region},page={page},shard={index % 211}", "s"


def _value(kind: str, rng: random.Random) -> str:
    if kind == "counter":
        return str(rng.choice((1, 1, 1, 2, 5)))
    if kind == "timer":
        return f"{rng.expovariate(1 / 40):.2f}"
    if kind == "gauge":
        return str(rng.randrange(10000)) if rng.random() < 0.9 else f"+{rng.randrange(50)}"
    return f"user{rng.randrange(1_000_000)}"


MAKERS: dict[str, Callable[[int, random.Random], Series]] = {
    "counter": _counter,
    "timer": _timer,
    "gauge": _gauge,
    "set": _set,
}


def build_series(count: int, seed: int = 1) -> dict[str, list[Series]]:
    """Build `count` distinct series split by the mix, keyed by metric type."""
    rng = random.Random(seed)
    out: dict[str, list[Series]] = {}
    for kind, share in MIX:
        target = max(1, count * share // 100)
        seen: set[Series] = set()
        index = 0
        # Bounded: 50 attempts per series is far more than collisions need.
        while len(seen) < target and index < target * 50:
            seen.add(MAKERS[kind](index, rng))
            index += 1
        out[kind] = sorted(seen)
    return out


def _format(series: Series, value: str) -> str:
    name, tail = series
    return f"{name}:{value}|{tail}"


def mixed_lines(count: int, series_count: int, seed: int = 1) -> Iterator[str]:
    """Yield `count` lines drawn from `series_count` series in the mix's proportions."""
    series = build_series(series_count, seed)
    rng = random.Random(seed + 1)
    kinds = [kind for kind, share in MIX for _ in range(share)]
    for _ in range(count):
        kind = rng.choice(kinds)
        yield _format(rng.choice(series[kind]), _value(kind, rng))


def unique_lines(count: int, seed: int = 1) -> Iterator[str]:
    """Yield `count` lines, each of a series never seen before, in the same mix."""
    rng = random.Random(seed)
    kinds = [kind for kind, share in MIX for _ in range(share)]
    for index in range(count):
        kind = kinds[index % len(kinds)]
        name, tail = MAKERS[kind](index, rng)
        # The serial tag makes every series distinct, whatever the maker drew.
        yield _format((f"{name},serial={index}", tail), _value(kind, rng))


def write_lines(path: Path, lines: Iterator[str]) -> Path:
    """Write lines to `path` (one per line) unless it already exists, and return it."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w", encoding="ascii") as file:
        for line in lines:
            file.write(line)
            file.write("\n")
    partial.replace(path)
    return path


def mixed_file(folder: Path, series_count: int, line_count: int) -> Path:
    """Return a cached traffic file of `line_count` lines over `series_count` series."""
    path = folder / f"mixed-{series_count}-{line_count}.txt"
    return write_lines(path, mixed_lines(line_count, series_count))


def unique_file(folder: Path, line_count: int) -> Path:
    """Return a cached traffic file of `line_count` distinct series, one line each."""
    return write_lines(folder / f"unique-{line_count}.txt", unique_lines(line_count))


def count_series(path: Path) -> int:
    """Count the distinct series (name, inline tags and DogStatsD tags) in a traffic file."""
    keys: set[str] = set()
    with path.open(encoding="ascii") as file:
        for line in file:
            name, _, rest = line.partition(":")
            tags = rest.partition("|#")[2].strip()
            keys.add(f"{name}|{tags}")
    return len(keys)
