"""Trials and searches: drive the generator through a proxy and count what arrives.

A trial sends paced traffic for a bounded time, waits until the receivers'
counts stop moving, and records loss, CPU time and socket drops. The search
for the max rate brackets the highest rate whose loss stays under the limit.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.backends import HOST, Receivers
from bench.procs import cpu_seconds, rss_bytes, udp_socket_stats, user_system_ticks
from bench.proxies import RunningProxy

LOSS_LIMIT = 0.01
# A generator that reaches less than this share of the requested rate is the
# bottleneck, so the search does not go higher.
GENERATOR_SHORTFALL = 0.95


@dataclass
class Trial:
    """Figures of one paced run. Rates are lines per second."""

    rate: float
    lines_per_datagram: int
    sent_lines: int
    received_lines: int
    received_datagrams: int
    elapsed: float
    sender_cpu: float
    proxy_cpu: float
    proxy_drops: int
    receiver_drops: int
    proxy_system_share: float | None = None
    latency: dict[str, Any] | None = None
    rss_samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def loss(self) -> float:
        """Share of the sent lines that never reached a receiver."""
        if self.sent_lines == 0:
            return 1.0
        return max(0.0, 1.0 - self.received_lines / self.sent_lines)

    @property
    def achieved_rate(self) -> float:
        """Lines per second the generator actually sent."""
        return self.sent_lines / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def passed(self) -> bool:
        """Whether the loss stayed under the limit."""
        return self.loss < LOSS_LIMIT

    @property
    def generator_bound(self) -> bool:
        """Whether the generator fell short of the requested rate."""
        return self.achieved_rate < GENERATOR_SHORTFALL * self.rate


@dataclass
class Search:
    """One max-rate search: the best passing trial and every trial run."""

    best: Trial | None
    trials: list[Trial]

    @property
    def max_rate(self) -> float:
        """The highest lines/s sent with loss under the limit, 0 if none passed."""
        return self.best.achieved_rate if self.best else 0.0


class Bench:
    """The generator, the receivers and the traffic files of one benchmark run."""

    def __init__(self, sender: tuple[str, ...], receivers: Receivers, traffic: Path):
        self.sender = sender
        self.receivers = receivers
        self.traffic = traffic

    def _sender_args(self, destinations: list[str], rate: float, shape: int) -> list[str]:
        args = [*self.sender, "--lines-per-datagram", str(shape), "--rate", f"{rate:.0f}"]
        for destination in destinations:
            args += ["--dest", destination]
        return args

    def trial(
        self,
        proxy: RunningProxy | None,
        rate: float,
        shape: int,
        seconds: float,
        *,
        traffic: Path | None = None,
        max_lines: int | None = None,
        probe_rate: float = 0.0,
        sample_every: float = 0.0,
    ) -> Trial:
        """Send `rate` lines/s in datagrams of `shape` lines for `seconds`, and count.

        With `proxy` None the generator sends straight to the receivers.
        `sample_every` > 0 records the proxy's RSS at that interval.
        """
        destinations = [f"{HOST}:{proxy.port}"] if proxy else self.receivers.destinations
        args = self._sender_args(destinations, rate, shape)
        args += ["--file", str(traffic or self.traffic), "--duration", f"{seconds:.3f}"]
        args += ["--probe-rate", f"{probe_rate:.0f}"]
        if max_lines is not None:
            args += ["--max-lines", str(max_lines)]
        pids = proxy.pids() if proxy else []
        self.receivers.reset()
        drops_before = self._drops(proxy)
        cpu_before = cpu_seconds(pids)
        ticks_before = user_system_ticks(pids)
        output, samples = self._run_sender(args, seconds, pids, sample_every)
        counts = self.receivers.settle()
        cpu_after = cpu_seconds(pids)
        ticks_after = user_system_ticks(pids)
        user = ticks_after[0] - ticks_before[0]
        system = ticks_after[1] - ticks_before[1]
        drops_after = self._drops(proxy)
        latency = self.receivers.latency() if probe_rate > 0 else None
        return Trial(
            rate=rate,
            lines_per_datagram=shape,
            sent_lines=int(output["lines"]) + int(output["probes"]),
            received_lines=counts.lines,
            received_datagrams=counts.datagrams,
            elapsed=float(output["elapsed"]),
            sender_cpu=float(output["cpu_user"]) + float(output["cpu_sys"]),
            proxy_cpu=cpu_after - cpu_before,
            proxy_drops=drops_after[0] - drops_before[0],
            receiver_drops=drops_after[1] - drops_before[1],
            proxy_system_share=system / (user + system) if user + system else None,
            latency=latency,
            rss_samples=samples,
        )

    def _drops(self, proxy: RunningProxy | None) -> tuple[int, int]:
        proxy_drops = udp_socket_stats(proxy.port).drops if proxy else 0
        receiver_drops = sum(udp_socket_stats(p).drops for p in self.receivers.udp_ports)
        return proxy_drops, receiver_drops

    def _run_sender(
        self, args: list[str], seconds: float, pids: list[int], sample_every: float
    ) -> tuple[dict[str, Any], list[tuple[float, int]]]:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        samples: list[tuple[float, int]] = []
        start = time.monotonic()
        deadline = start + seconds + 15
        while process.poll() is None and time.monotonic() < deadline:
            if sample_every > 0:
                samples.append((time.monotonic() - start, rss_bytes(pids)))
            time.sleep(sample_every if sample_every > 0 else 0.05)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
            raise TimeoutError(f"generator still running {seconds + 15:.0f} s after it started")
        stdout = process.stdout.read() if process.stdout else ""
        if process.stdout:
            process.stdout.close()
        if process.returncode != 0 or not stdout.strip():
            raise RuntimeError(f"generator failed with exit code {process.returncode}")
        if sample_every > 0:
            samples.append((time.monotonic() - start, rss_bytes(pids)))
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        return result, samples

    def search(
        self,
        proxy: RunningProxy | None,
        shape: int,
        start_rate: float,
        *,
        seconds: float,
        precision: float,
        max_steps: int,
        step: float = 2.0,
    ) -> Search:
        """Bracket the highest passing rate, starting at `start_rate`, in at most `max_steps`.

        The bracket grows or shrinks by `step` until one rate passes and one
        fails, then halves (geometrically) until high/low <= `precision`.
        """
        trials: list[Trial] = []
        best: Trial | None = None
        failed_at: float | None = None
        rate = start_rate
        for _ in range(max_steps):
            trial = self.trial(proxy, rate, shape, seconds)
            trials.append(trial)
            if trial.passed:
                if best is None or trial.achieved_rate > best.achieved_rate:
                    best = trial
                if trial.generator_bound:
                    break
            else:
                failed_at = rate if failed_at is None else min(failed_at, rate)
            if best is not None and failed_at is not None:
                if failed_at / best.rate <= precision:
                    break
                rate = math.sqrt(best.rate * failed_at)
            elif best is not None:
                rate = best.rate * step
            else:
                rate = rate / step
        return Search(best=best, trials=trials)

    def wait_forwarding(self, proxy: RunningProxy, timeout: float = 20.0) -> None:
        """Send single lines to the proxy until one reaches a receiver."""
        self.receivers.reset()
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while time.monotonic() < deadline:
                if proxy.exited():
                    raise RuntimeError(
                        f"{proxy.spec.label} exited with code {proxy.process.returncode}; "
                        f"see {proxy.log}"
                    )
                sock.sendto(b"bench.ready:1|c", (HOST, proxy.port))
                time.sleep(0.1)
                if self.receivers.counts().lines > 0:
                    return
        raise TimeoutError(f"{proxy.spec.label} forwarded nothing within {timeout:.0f} s")
