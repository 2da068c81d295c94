"""The benchmark's phases: max rate and latency, CPU per line, memory, profile.

Every phase runs each configuration in turn against the same receivers and
traffic. The max-rate phase repeats in rounds and rotates the order of the
configurations each round, so drift in the machine's load hits all of them.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.measure import Bench, Search, Trial
from bench.procs import peak_rss_bytes, receive_buffer_bytes
from bench.profiling import PerfRecorder, Recorder
from bench.proxies import (
    ProxySpec,
    RunningProxy,
    start_proxy_js,
    start_statsd_proxy,
)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Durations, rates and repeat counts of one benchmark run."""

    quick: bool
    rounds: int
    trial_seconds: float
    precision: float
    max_steps: int
    warm_step: float
    cpu_rate: float
    cpu_seconds: float
    latency_seconds: float
    probe_rate: float
    unique_series: int
    unique_rate: float
    profile_seconds: float
    shapes: tuple[int, ...] = (1, 30)

    @classmethod
    def full(cls) -> Settings:
        """Return the settings of the documented run (about 12 minutes)."""
        return cls(
            quick=False,
            rounds=3,
            trial_seconds=1.5,
            precision=1.08,
            max_steps=8,
            warm_step=1.15,
            cpu_rate=20_000,
            cpu_seconds=4.0,
            latency_seconds=2.0,
            probe_rate=1000,
            unique_series=1_000_000,
            unique_rate=50_000,
            profile_seconds=5.0,
        )

    @classmethod
    def quick_mode(cls) -> Settings:
        """Return short settings that check the harness works (about one minute)."""
        return cls(
            quick=True,
            rounds=1,
            trial_seconds=0.5,
            precision=1.5,
            max_steps=4,
            warm_step=1.5,
            cpu_rate=10_000,
            cpu_seconds=1.0,
            latency_seconds=1.0,
            probe_rate=500,
            unique_series=50_000,
            unique_rate=50_000,
            profile_seconds=2.0,
        )


def default_specs(quick: bool) -> list[ProxySpec]:
    """Return the configurations to compare; quick mode keeps one of each kind."""
    buffer = 4 * MIB
    if quick:
        return [
            ProxySpec("loopback", "loopback"),
            ProxySpec("proxy.js forks=0 rcvbuf=4MiB", "proxy.js", 0, buffer),
            ProxySpec("statsd-proxy workers=1 rcvbuf=4MiB", "statsd-proxy", 1, buffer),
        ]
    return [
        ProxySpec("loopback", "loopback"),
        ProxySpec("proxy.js forks=0 rcvbuf=4MiB", "proxy.js", 0, buffer),
        ProxySpec("proxy.js forks=2 rcvbuf=4MiB", "proxy.js", 2, buffer),
        ProxySpec("proxy.js forks=0 rcvbuf=default", "proxy.js", 0, None),
        ProxySpec("proxy.js forks=2 rcvbuf=default", "proxy.js", 2, None),
        ProxySpec("statsd-proxy workers=1 rcvbuf=4MiB", "statsd-proxy", 1, buffer),
        ProxySpec("statsd-proxy workers=1 rcvbuf=default", "statsd-proxy", 1, None),
        ProxySpec("statsd-proxy workers=2 rcvbuf=4MiB", "statsd-proxy", 2, buffer),
    ]


def _log_progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Suite:
    """Runs the phases and collects each configuration's figures in `configs`."""

    def __init__(
        self,
        bench: Bench,
        settings: Settings,
        specs: list[ProxySpec],
        work_dir: Path,
        proxy_js: Path,
        default_request: int,
    ):
        self.bench = bench
        self.settings = settings
        self.specs = specs
        self.work_dir = work_dir
        self.proxy_js = proxy_js
        self.default_request = default_request
        self.configs: dict[str, dict[str, Any]] = {spec.label: _new_entry(spec) for spec in specs}

    # Starting and stopping

    def _start(self, spec: ProxySpec) -> RunningProxy:
        if spec.kind == "proxy.js":
            proxy = start_proxy_js(spec, self.bench.receivers, self.work_dir, self.proxy_js)
        else:
            proxy = start_statsd_proxy(
                spec, self.bench.receivers, self.work_dir, self.default_request
            )
        try:
            self.bench.wait_forwarding(proxy)
        except (RuntimeError, TimeoutError):
            proxy.stop()
            raise
        self.configs[spec.label]["receive_buffer_actual"] = receive_buffer_bytes(proxy.port)
        # Warm-up: JIT compilation, caches and the first allocations.
        self.bench.trial(proxy, 20_000, 30, 0.3 if self.settings.quick else 1.0)
        return proxy

    def with_proxy(
        self,
        spec: ProxySpec,
        work: Callable[[RunningProxy | None], None],
        record_rss: bool = False,
    ) -> None:
        """Start `spec`, run `work` with it, and stop it; record a failure to start.

        With `record_rss` the proxy's peak RSS (summed VmHWM) joins its figures.
        """
        entry = self.configs[spec.label]
        if entry["error"]:
            return
        if spec.kind == "loopback":
            work(None)
            return
        try:
            proxy = self._start(spec)
        except (RuntimeError, TimeoutError, OSError) as error:
            entry["error"] = str(error)
            _log_progress(f"{spec.label}: not measured: {error}")
            return
        try:
            work(proxy)
        finally:
            if record_rss:
                entry["peak_rss"].append(peak_rss_bytes(proxy.pids()))
            code = proxy.stop()
            if code not in (0, None) and spec.kind == "statsd-proxy":
                entry["exit_codes"].append(code)

    # Phases

    def run_throughput(self) -> None:
        """Search the max rate of every configuration and shape, in rotating rounds."""
        for round_index in range(self.settings.rounds):
            shift = round_index % len(self.specs)
            for spec in self.specs[shift:] + self.specs[:shift]:
                self.with_proxy(spec, partial(self._search_all, spec), record_rss=True)

    def _search_all(self, spec: ProxySpec, proxy: RunningProxy | None) -> None:
        entry = self.configs[spec.label]
        for shape in self.settings.shapes:
            previous = [s["max_rate"] for s in entry["searches"][str(shape)] if s["max_rate"]]
            if previous:
                start, step = statistics.median(previous), self.settings.warm_step
            else:
                start, step = (60_000.0 if shape == 1 else 150_000.0), 2.0
            search = self.bench.search(
                proxy,
                shape,
                start,
                seconds=self.settings.trial_seconds,
                precision=self.settings.precision,
                max_steps=self.settings.max_steps,
                step=step,
            )
            entry["searches"][str(shape)].append(_search_record(search))
            _log_progress(f"{spec.label}: {shape}-line datagrams: {search.max_rate:,.0f} lines/s")
        for shape in self.settings.shapes:
            self._measure_latency(entry, proxy, shape)

    def _measure_latency(
        self, entry: dict[str, Any], proxy: RunningProxy | None, shape: int
    ) -> None:
        """Send probes at half the median max rate found so far, and keep the delays."""
        rates = [s["max_rate"] for s in entry["searches"][str(shape)] if s["max_rate"]]
        if not rates:
            return
        rate = statistics.median(rates) / 2
        trial = self.bench.trial(
            proxy, rate, shape, self.settings.latency_seconds, probe_rate=self.settings.probe_rate
        )
        record = {"rate": rate, "loss": trial.loss, **(trial.latency or {})}
        entry["latency"][str(shape)].append(record)

    def run_cpu(self) -> None:
        """Measure CPU time per forwarded line at the fixed rate."""
        for spec in self.specs:
            if spec.kind != "loopback":
                self.with_proxy(spec, partial(self._cpu, spec))

    def _cpu(self, spec: ProxySpec, proxy: RunningProxy | None) -> None:
        entry = self.configs[spec.label]
        for shape in self.settings.shapes:
            trial = self.bench.trial(
                proxy, self.settings.cpu_rate, shape, self.settings.cpu_seconds
            )
            entry["cpu"][str(shape)] = _cpu_record(trial)

    def run_memory(self, specs: list[ProxySpec]) -> dict[str, Any]:
        """Send `unique_series` distinct series through each of `specs`, sampling RSS."""
        folder = self.work_dir / "traffic"
        from bench.traffic import unique_file

        traffic = unique_file(folder, self.settings.unique_series)
        results: dict[str, Any] = {}
        for spec in specs:

            def work(proxy: RunningProxy | None, label: str = spec.label) -> None:
                if proxy is None:
                    raise ValueError("the distinct-series run needs a proxy")
                seconds = self.settings.unique_series / self.settings.unique_rate
                trial = self.bench.trial(
                    proxy,
                    self.settings.unique_rate,
                    30,
                    seconds + 1,
                    traffic=traffic,
                    max_lines=self.settings.unique_series,
                    sample_every=0.25,
                )
                results[label] = memory_record(trial, self.settings.unique_series)
                _log_progress(f"{label}: memory run: {results[label]['summary']}")

            self.with_proxy(spec, work)
        return results

    def run_profile(self, spec: ProxySpec) -> dict[str, Any]:
        """Profile a single-worker statsd-proxy at 80 % of its max rate, per shape.

        py-spy (Python stacks) and perf (on-CPU time, kernel included) run
        one after the other, each during its own trial.
        """
        profiles: dict[str, Any] = {}

        def work(proxy: RunningProxy | None) -> None:
            if proxy is None:
                raise ValueError("only a proxy can be profiled")
            for shape in self.settings.shapes:
                rates = [s["max_rate"] for s in self.configs[spec.label]["searches"][str(shape)]]
                rate = 0.8 * statistics.median(rates) if any(rates) else 20_000
                output = self.work_dir / f"py-spy-{shape}.txt"
                record = self._profiled_trial(proxy, rate, shape, Recorder, output)
                perf = self._profiled_trial(
                    proxy, rate, shape, PerfRecorder, self.work_dir / f"perf-{shape}.data"
                )
                profiles[str(shape)] = {**record, "perf": perf}

        self.with_proxy(spec, work)
        return profiles

    def _profiled_trial(
        self,
        proxy: RunningProxy,
        rate: float,
        shape: int,
        recorder_class: type[Recorder] | type[PerfRecorder],
        output: Path,
    ) -> dict[str, Any]:
        seconds = self.settings.profile_seconds
        recorder = recorder_class(proxy.process.pid, seconds, output)
        recorder.start()
        time.sleep(0.3)
        trial = self.bench.trial(proxy, rate, shape, seconds)
        recorder.join(timeout=seconds + 60)
        return {"rate": rate, **_cpu_record(trial), **recorder.result}


def _new_entry(spec: ProxySpec) -> dict[str, Any]:
    return {
        "label": spec.label,
        "kind": spec.kind,
        "workers": spec.workers,
        "receive_buffer_request": spec.receive_buffer,
        "receive_buffer_actual": None,
        "error": None,
        "exit_codes": [],
        "searches": {"1": [], "30": []},
        "peak_rss": [],
        "cpu": {},
        "latency": {"1": [], "30": []},
    }


def _search_record(search: Search) -> dict[str, Any]:
    best = search.best
    record: dict[str, Any] = {
        "max_rate": search.max_rate,
        "trials": len(search.trials),
        "load_average_1m": os.getloadavg()[0],
    }
    if best is not None:
        record["loss"] = best.loss
        record["sender_cpu_share"] = best.sender_cpu / best.elapsed
        record["proxy_cpu_share"] = best.proxy_cpu / best.elapsed
        record["egress_datagrams_per_line"] = best.received_datagrams / max(1, best.received_lines)
        record["generator_bound"] = best.generator_bound
    over = [t for t in search.trials if not t.passed]
    if over:
        worst = max(over, key=lambda t: t.loss)
        record["overload_proxy_drops"] = worst.proxy_drops
        record["overload_receiver_drops"] = worst.receiver_drops
    return record


def _cpu_record(trial: Trial) -> dict[str, Any]:
    lines = max(1, trial.received_lines)
    return {
        "rate": trial.rate,
        "loss": trial.loss,
        "cpu_us_per_line": trial.proxy_cpu / lines * 1e6,
        "proxy_cpu_share": trial.proxy_cpu / trial.elapsed,
        "proxy_system_share": trial.proxy_system_share,
        "sender_cpu_share": trial.sender_cpu / trial.elapsed,
    }


def memory_record(trial: Trial, series: int) -> dict[str, Any]:
    """Summarise RSS samples of a distinct-series run.

    The plateau is the median RSS over the second half of the run. The run
    passes when every sample after the first 20 % of the series lies within
    10 % of the plateau.
    """
    samples = [(t, rss) for t, rss in trial.rss_samples if rss > 0]
    if not samples:
        return {"summary": "no RSS samples", "samples": []}
    duration = samples[-1][0]
    late = [rss for t, rss in samples if t >= duration / 2]
    plateau = statistics.median(late)
    settled = [rss for t, rss in samples if t >= 0.2 * duration]
    deviation = max(abs(rss / plateau - 1) for rss in settled)
    rate = trial.sent_lines / trial.elapsed if trial.elapsed else 0
    return {
        "series": series,
        "loss": trial.loss,
        "start_rss": samples[0][1],
        "max_rss": max(rss for _, rss in samples),
        "plateau_rss": plateau,
        "max_deviation": deviation,
        "within_10_percent": deviation <= 0.10,
        "samples": [(round(min(series, t * rate)), rss) for t, rss in samples],
        "summary": f"plateau {plateau / MIB:.1f} MiB, max deviation {deviation:.1%}",
    }
