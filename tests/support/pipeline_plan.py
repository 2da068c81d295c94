"""A deterministic StatsD traffic mix and the values it must produce in InfluxDB.

Names are chosen so that what Etsy StatsD 0.9 flushes can be predicted:
- plain counters, timers and gauges arrive under their own names;
- Influx-style tags in the name lose their commas (`m,a=1:1|c` becomes the
  measurement `ma=1`), so each tag set is its own mangled measurement;
- DogStatsD tags (`|#a:1`) end up in the field name (`count;a=1`).
Every line is sent in one of several rounds, so totals span several flushes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

ROUNDS = 4
COUNTER_SERIES = 60
TIMER_SERIES = 5
GAUGE_SERIES = 4
TAG_SETS = 6
SHUFFLE_SEED = 8125


@dataclass
class TrafficPlan:
    """Lines to send per round and the values expected in InfluxDB afterwards."""

    rounds: list[list[str]] = field(default_factory=lambda: [[] for _ in range(ROUNDS)])
    # measurement -> total of the `count` field of a plain counter
    counters: dict[str, float] = field(default_factory=dict)
    # measurement -> (sample count, sum of values) of a timer
    timers: dict[str, tuple[float, float]] = field(default_factory=dict)
    # measurement -> value of the gauge after the last round
    gauges: dict[str, float] = field(default_factory=dict)
    # mangled measurement -> total; pairs below differ only in tag order
    influx_tagged: dict[str, float] = field(default_factory=dict)
    influx_tag_order_pairs: list[tuple[str, str]] = field(default_factory=list)
    # (measurement, field) -> total; pairs below differ only in tag order
    dogstatsd_tagged: dict[tuple[str, str], float] = field(default_factory=dict)
    dogstatsd_tag_order_pairs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def line_count(self) -> int:
        """Number of lines over all rounds."""
        return sum(len(lines) for lines in self.rounds)


def plan_traffic() -> TrafficPlan:
    """Build the whole mix; the same plan every run."""
    plan = TrafficPlan()
    _add_counters(plan)
    _add_timers(plan)
    _add_gauges(plan)
    _add_influx_tagged(plan)
    _add_dogstatsd_tagged(plan)
    # Mix series within each round so that datagrams carry lines for several shards.
    # Gauge steps stay in order because each round contains one step per gauge.
    shuffler = random.Random(SHUFFLE_SEED)
    for lines in plan.rounds:
        shuffler.shuffle(lines)
    return plan


def _add_counters(plan: TrafficPlan) -> None:
    # Series i counts ROUNDS * (i + 1); every third series also gets one line sampled
    # at 0.5, which StatsD counts twice. Totals are then all different, because the
    # sampled ones are 2 modulo 4 and the others 0 modulo 4.
    for index in range(COUNTER_SERIES):
        name = f"app.page{index:02d}.views"
        for lines in plan.rounds:
            lines.append(f"{name}:{index + 1}|c")
        total = float(ROUNDS * (index + 1))
        if index % 3 == 0:
            plan.rounds[0].append(f"{name}:1|c|@0.5")
            total += 2
        plan.counters[name] = total


def _add_timers(plan: TrafficPlan) -> None:
    for index in range(TIMER_SERIES):
        name = f"app.render{index}.duration"
        samples = 0.0
        value_sum = 0.0
        for round_number, lines in enumerate(plan.rounds):
            for sample in range(index + 2):
                value = 10 * index + 3 * sample + round_number
                lines.append(f"{name}:{value}|ms")
                samples += 1
                value_sum += value
        # A sampled timer value counts 1 / rate samples but adds its value once.
        plan.rounds[-1].append(f"{name}:7|ms|@0.5")
        plan.timers[name] = (samples + 2, value_sum + 7)


def _add_gauges(plan: TrafficPlan) -> None:
    for index in range(GAUGE_SERIES):
        name = f"app.queue{index}.depth"
        steps = [f"{100 + index}", "+5", "-2", f"+{index}"]
        for step, lines in zip(steps, plan.rounds, strict=True):
            lines.append(f"{name}:{step}|g")
        plan.gauges[name] = float(100 + index + 5 - 2 + index)


def _add_influx_tagged(plan: TrafficPlan) -> None:
    for index in range(TAG_SETS):
        sorted_name = f"app.api.requests,endpoint=e{index},method=get"
        swapped_name = f"app.api.requests,method=get,endpoint=e{index}"
        for lines in plan.rounds:
            lines.append(f"{sorted_name}:{index + 1}|c")
            lines.append(f"{swapped_name}:1|c")
        sorted_key = sorted_name.replace(",", "")
        swapped_key = swapped_name.replace(",", "")
        plan.influx_tagged[sorted_key] = float(ROUNDS * (index + 1))
        plan.influx_tagged[swapped_key] = float(ROUNDS)
        plan.influx_tag_order_pairs.append((sorted_key, swapped_key))


def _add_dogstatsd_tagged(plan: TrafficPlan) -> None:
    measurement = "app.db.queries"
    for index in range(TAG_SETS):
        for lines in plan.rounds:
            lines.append(f"{measurement}:{index + 2}|c|#db:main,op:k{index}")
            lines.append(f"{measurement}:1|c|#op:k{index},db:main")
        sorted_field = f"count;db=main;op=k{index}"
        swapped_field = f"count;op=k{index};db=main"
        plan.dogstatsd_tagged[(measurement, sorted_field)] = float(ROUNDS * (index + 2))
        plan.dogstatsd_tagged[(measurement, swapped_field)] = float(ROUNDS)
        plan.dogstatsd_tag_order_pairs.append((sorted_field, swapped_field))
