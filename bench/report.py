"""Turn a results document into Markdown tables: figures, ratios and targets.

Ratios compare with the best proxy.js figure of the same receive-buffer class
(4 MiB or the kernel default): the highest rate, the lowest CPU per line and
the lowest RSS over its fork counts, so no ratio flatters statsd-proxy.
"""

from __future__ import annotations

import statistics
from typing import Any

MIB = 1024 * 1024
PRIMARY = "statsd-proxy workers=1 rcvbuf=4MiB"
SECOND_WORKER = "statsd-proxy workers=2 rcvbuf=4MiB"


def median_rate(entry: dict[str, Any], shape: int) -> float | None:
    """Median max lines/s of a configuration's searches, or None if none passed."""
    rates = [s["max_rate"] for s in entry["searches"][str(shape)] if s["max_rate"] > 0]
    return statistics.median(rates) if rates else None


def _median_of(entry: dict[str, Any], shape: int, key: str) -> float | None:
    values = [s[key] for s in entry["searches"][str(shape)] if key in s]
    return statistics.median(values) if values else None


def _cpu(entry: dict[str, Any], shape: int) -> float | None:
    record = entry["cpu"].get(str(shape))
    return record["cpu_us_per_line"] if record else None


def _rss(entry: dict[str, Any]) -> float | None:
    return max(entry["peak_rss"]) if entry["peak_rss"] else None


def _buffer_class(entry: dict[str, Any]) -> str:
    return "default" if entry["receive_buffer_request"] is None else "set"


def baselines(configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Best proxy.js figure per buffer class: max rates, min CPU and min RSS."""
    out: dict[str, dict[str, float]] = {}
    for entry in configs.values():
        if entry["kind"] != "proxy.js" or entry["error"]:
            continue
        best = out.setdefault(_buffer_class(entry), {})
        for shape in (1, 30):
            rate = median_rate(entry, shape)
            if rate is not None:
                best[f"rate{shape}"] = max(best.get(f"rate{shape}", 0.0), rate)
            cpu = _cpu(entry, shape)
            if cpu is not None:
                best[f"cpu{shape}"] = min(best.get(f"cpu{shape}", cpu), cpu)
        rss = _rss(entry)
        if rss is not None:
            best["rss"] = min(best.get("rss", rss), rss)
    return out


def _ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return ""
    return f" ({value / base:.2f}x)"


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def latency_ms(entry: dict[str, Any], shape: int, key: str) -> float | None:
    """Median over the rounds of one latency percentile (`p50_us`, `p99_us`), in ms."""
    values = [r[key] for r in entry["latency"][str(shape)] if r.get("count", 0) > 0]
    return statistics.median(values) / 1000 if values else None


def _latency(entry: dict[str, Any], shape: int) -> str:
    p50, p99 = latency_ms(entry, shape, "p50_us"), latency_ms(entry, shape, "p99_us")
    if p50 is None or p99 is None:
        return "n/a"
    return f"{p50:.2f} / {p99:.2f}"


def _spread(entry: dict[str, Any], shape: int) -> str:
    rates = [s["max_rate"] for s in entry["searches"][str(shape)]]
    if len(rates) < 2:
        return ""
    return f" [{min(rates):,.0f}-{max(rates):,.0f}]"


def figures_table(configs: dict[str, dict[str, Any]]) -> str:
    """Return the main table: one row per configuration."""
    base = baselines(configs)
    head = (
        "| configuration | SO_RCVBUF granted | max lines/s, 1-line [range] | "
        "max lines/s, 30-line [range] | CPU us/line 1-line | CPU us/line 30-line | "
        "peak RSS MiB | egress datagrams/line 1 / 30 | latency p50 / p99 ms 1-line | "
        "latency p50 / p99 ms 30-line | generator CPU at max 1 / 30 |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for entry in configs.values():
        if entry["error"]:
            rows.append(f"| {entry['label']} | not measured: {entry['error'][:80]} |" + " |" * 9)
            continue
        ref = base.get(_buffer_class(entry), {}) if entry["kind"] == "statsd-proxy" else {}
        rate1, rate30 = median_rate(entry, 1), median_rate(entry, 30)
        cpu1, cpu30 = _cpu(entry, 1), _cpu(entry, 30)
        rss = _rss(entry)
        egress = [_median_of(entry, s, "egress_datagrams_per_line") for s in (1, 30)]
        sender = [_median_of(entry, s, "sender_cpu_share") for s in (1, 30)]
        granted = entry["receive_buffer_actual"]
        rows.append(
            f"| {entry['label']} | {_num(granted)} "
            f"| {_num(rate1)}{_ratio(rate1, ref.get('rate1'))}{_spread(entry, 1)} "
            f"| {_num(rate30)}{_ratio(rate30, ref.get('rate30'))}{_spread(entry, 30)} "
            f"| {_num(cpu1, 2)}{_ratio(cpu1, ref.get('cpu1'))} "
            f"| {_num(cpu30, 2)}{_ratio(cpu30, ref.get('cpu30'))} "
            f"| {_num(rss / MIB if rss else None, 1)}{_ratio(rss, ref.get('rss'))} "
            f"| {_num(egress[0], 3)} / {_num(egress[1], 3)} "
            f"| {_latency(entry, 1)} | {_latency(entry, 30)} "
            f"| {_percent(sender[0])} / {_percent(sender[1])} |"
        )
    return head + "\n".join(rows) + "\n"


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _target(name: str, measured: float | None, limit: float, higher: bool, unit: str) -> str:
    if measured is None:
        return f"| {name} | n/a | {limit:g}{unit} | not measured |"
    met = measured >= limit if higher else measured <= limit
    return f"| {name} | {measured:.2f}{unit} | {limit:g}{unit} | {'met' if met else 'MISSED'} |"


def targets_table(results: dict[str, Any]) -> str:
    """Return the targets of statsd-proxy's default configuration against proxy.js."""
    configs = results["configs"]
    entry = configs.get(PRIMARY)
    ref = baselines(configs).get("set", {})
    if entry is None or entry["error"]:
        return "statsd-proxy was not measured, so no target is evaluated.\n"

    def ratio(value: float | None, key: str) -> float | None:
        return value / ref[key] if value is not None and ref.get(key) else None

    lines = ["| target | measured | limit | result |", "|---|---|---|---|"]
    lines.append(
        _target("lines/s, 1-line datagrams", ratio(median_rate(entry, 1), "rate1"), 3, True, "x")
    )
    lines.append(
        _target("lines/s, 30-line datagrams", ratio(median_rate(entry, 30), "rate30"), 8, True, "x")
    )
    for shape in (1, 30):
        cpu = ratio(_cpu(entry, shape), f"cpu{shape}")
        lines.append(_target(f"CPU per line, {shape}-line", cpu, 0.15, False, "x"))
    lines.append(_target("peak RSS", ratio(_rss(entry), "rss"), 0.5, False, "x"))
    memory = results.get("memory", {}).get(PRIMARY)
    deviation = memory.get("max_deviation") if memory else None
    lines.append(_target("memory vs plateau, distinct series run", deviation, 0.10, False, ""))
    for shape in (1, 30):
        p99 = latency_ms(entry, shape, "p99_us")
        lines.append(_target(f"p99 latency, {shape}-line, half max rate", p99, 5, False, " ms"))
    return "\n".join(lines) + "\n"


def workers_table(configs: dict[str, dict[str, Any]]) -> str:
    """Return the gain of a second worker and the share of the loopback limit."""
    one_worker, two_workers, loopback = (
        configs.get(k) for k in (PRIMARY, SECOND_WORKER, "loopback")
    )
    if not one_worker or not two_workers or not loopback:
        return "The two-worker comparison was not measured.\n"
    if one_worker["error"] or two_workers["error"]:
        return "The two-worker comparison was not measured.\n"
    lines = [
        "| datagrams | workers=1 | workers=2 | gain | loopback limit | share of limit, 1 / 2 |",
        "|---|---|---|---|---|---|",
    ]
    for shape in (1, 30):
        r1, r2, limit = (median_rate(e, shape) for e in (one_worker, two_workers, loopback))
        gain = f"{r2 / r1:.2f}x" if r1 and r2 else "n/a"
        share = f"{_share(r1, limit)} / {_share(r2, limit)}"
        lines.append(
            f"| {shape}-line | {_num(r1)} | {_num(r2)} | {gain} | {_num(limit)} | {share} |"
        )
    return "\n".join(lines) + "\n"


def _share(rate: float | None, limit: float | None) -> str:
    return f"{rate / limit:.0%}" if rate and limit else "n/a"


def memory_table(memory: dict[str, Any]) -> str:
    """Return the distinct-series run: RSS at start, plateau, max and deviation."""
    if not memory:
        return "The distinct-series run was not measured.\n"
    lines = [
        "| configuration | series | loss | RSS start MiB | plateau MiB | max MiB | "
        "max deviation after 20 % | within 10 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, record in memory.items():
        if "plateau_rss" not in record:
            lines.append(f"| {label} | {record.get('summary', 'n/a')} |" + " |" * 6)
            continue
        lines.append(
            f"| {label} | {record['series']:,} | {record['loss']:.2%} "
            f"| {record['start_rss'] / MIB:.1f} | {record['plateau_rss'] / MIB:.1f} "
            f"| {record['max_rss'] / MIB:.1f} | {record['max_deviation']:.1%} "
            f"| {'yes' if record['within_10_percent'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def _shares(title: str, rows: list[tuple[str, float]], limit: int) -> list[str]:
    out = [f"- {title}:"]
    out += [f"  - {share:.1%} `{name}`" for name, share in rows[:limit]]
    return out


def profile_text(profiles: dict[str, Any]) -> str:
    """Return the profile summaries as Markdown lists."""
    if not profiles:
        return "No profile was taken.\n"
    parts = []
    for shape, record in profiles.items():
        system = record.get("proxy_system_share")
        parts.append(
            f"{shape}-line datagrams at {record['rate']:,.0f} lines/s: "
            f"{record['cpu_us_per_line']:.2f} us CPU per line, "
            f"{record['proxy_cpu_share']:.0%} of a core "
            f"({_percent(system)} of it in the kernel), loss {record['loss']:.2%}."
        )
        if "error" in record:
            parts.append(f"- py-spy: {record['error']}")
        else:
            parts.append(f"- py-spy: {record['samples']} busy samples.")
            parts += _shares(
                "Python self time (native code shows as its caller)", record["self"], 10
            )
            parts += _shares("Python inclusive time", record["inclusive"], 10)
        perf = record.get("perf", {})
        if "error" in perf:
            parts.append(f"- perf: {perf['error']}")
        elif perf:
            parts += _shares(
                f"perf, on-CPU time by object ({perf['proxy_cpu_share']:.0%} of a core)",
                perf["by_object"],
                6,
            )
            parts += _shares("perf, on-CPU time by symbol", perf["by_symbol"], 15)
        parts.append("")
    return "\n".join(parts) + "\n"


def render(results: dict[str, Any]) -> str:
    """Return the whole Markdown report of one run."""
    machine = results["machine"]
    loads = results["load_average"]
    header = [
        f"Run {results['started']} ({results['mode']} mode, {results['duration_s']:.0f} s), "
        f"commit {machine.get('commit', '?')}.",
        f"Load average (1 min) over the run: {min(loads):.2f} to {max(loads):.2f}.",
        "Generator and receivers: "
        + (
            "C, sendmmsg and recvmmsg."
            if results.get("compiled_tools")
            else "the Python fallbacks."
        ),
        f"net.core.rmem_max {machine['rmem_max']}, net.core.rmem_default "
        f"{machine['rmem_default']}.",
        "",
    ]
    sections = [
        ("Figures", figures_table(results["configs"])),
        ("Targets", targets_table(results)),
        ("Workers", workers_table(results["configs"])),
        ("Memory over distinct series", memory_table(results.get("memory", {}))),
        ("Profile of statsd-proxy", profile_text(results.get("profile", {}))),
    ]
    body = [f"### {title}\n\n{text}" for title, text in sections]
    return "\n".join(header) + "\n" + "\n".join(body)
