"""Benchmark statsd-proxy against Etsy StatsD's proxy.js on this machine.

Usage (from the repository root):

    .venv/bin/python -m bench.run            # the full run, about 12 minutes
    .venv/bin/python -m bench.run --quick    # a check of the harness, about a minute

Both write a JSON document of every figure and print a Markdown report.
Everything listens and sends on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import report, traffic
from bench.backends import Receivers
from bench.build import DEFAULT_WORK_DIR, REPO_DIR, build_tools
from bench.measure import Bench
from bench.procs import read_sysctl
from bench.proxies import DEFAULT_PROXY_JS, ProxySpec
from bench.suite import Settings, Suite, default_specs

SERIES = 10_000
TRAFFIC_LINES = 60_000
# proxy.js keeps the default SO_RCVBUF when it is not set; statsd-proxy always
# sets one, and asking for half of rmem_default yields the default itself.
FALLBACK_RMEM_DEFAULT = 212_992


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run that checks the harness")
    parser.add_argument("--output", type=Path, help="JSON results file (default: in --work-dir)")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help=f"folder for binaries, traffic files and logs (default: {DEFAULT_WORK_DIR})",
    )
    parser.add_argument(
        "--proxy-js", type=Path, default=DEFAULT_PROXY_JS, help="path of Etsy StatsD's proxy.js"
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        help="profile statsd-proxy with py-spy and perf (default: on, off with --quick)",
    )
    return parser.parse_args(argv)


def _command_output(args: list[str]) -> str:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout.strip()


def machine_info() -> dict[str, Any]:
    """Describe the machine: CPU, kernel, Python, node and the UDP buffer limits."""
    lscpu = _command_output(["lscpu"])
    fields = ("Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor", "L3 cache")
    cpu = {}
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in fields:
            cpu[key.strip()] = value.strip()
    return {
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _command_output(["node", "--version"]),
        "gcc": _command_output(["gcc", "-dumpfullversion"]),
        "rmem_max": read_sysctl("net.core.rmem_max"),
        "rmem_default": read_sysctl("net.core.rmem_default"),
        "commit": _command_output(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"]),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every phase and return the results document."""
    settings = Settings.quick_mode() if args.quick else Settings.full()
    work_dir: Path = args.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    tools = build_tools(work_dir)
    machine = machine_info()
    rmem_default = machine["rmem_default"] or FALLBACK_RMEM_DEFAULT
    traffic_file = traffic.mixed_file(work_dir / "traffic", SERIES, TRAFFIC_LINES)

    started = time.time()
    loads = [os.getloadavg()[0]]
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "mode": "quick" if args.quick else "full",
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]]),
        "machine": machine,
        "compiled_tools": tools.compiled,
        "settings": settings.__dict__,
        "traffic": {"series": traffic.count_series(traffic_file), "lines": TRAFFIC_LINES},
    }

    receivers = Receivers(tools.receiver, max_seconds=3600)
    try:
        bench = Bench(tools.sender, receivers, traffic_file)
        specs = default_specs(args.quick)
        suite = Suite(bench, settings, specs, work_dir, args.proxy_js, rmem_default // 2)

        suite.run_throughput()
        loads.append(os.getloadavg()[0])
        suite.run_cpu()
        loads.append(os.getloadavg()[0])
        results["memory"] = suite.run_memory(_memory_specs(specs, suite))
        loads.append(os.getloadavg()[0])
        if args.profile if args.profile is not None else not args.quick:
            primary = next(s for s in specs if s.label == report.PRIMARY)
            results["profile"] = suite.run_profile(primary)
        results["configs"] = suite.configs
    finally:
        receivers.stop()

    loads.append(os.getloadavg()[0])
    results["load_average"] = loads
    results["duration_s"] = time.time() - started
    return results


def _memory_specs(specs: list[ProxySpec], suite: Suite) -> list[ProxySpec]:
    """statsd-proxy's default configuration and the faster proxy.js at the same buffer."""
    chosen = [s for s in specs if s.label == report.PRIMARY]
    candidates = [s for s in specs if s.kind == "proxy.js" and s.receive_buffer is not None]
    if candidates:

        def single_line_rate(spec: ProxySpec) -> float:
            return report.median_rate(suite.configs[spec.label], 1) or 0.0

        chosen.append(max(candidates, key=single_line_rate))
    return chosen


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write the JSON results and print the Markdown report."""
    args = parse_args(argv)
    results = run(args)
    stamp = re.sub(r"[^0-9]", "", results["started"])[:14]
    output: Path = args.output or args.work_dir / f"results-{results['mode']}-{stamp}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1, default=str))
    markdown = report.render(results)
    if args.markdown:
        args.markdown.write_text(markdown)
    print(markdown)
    print(f"results: {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
