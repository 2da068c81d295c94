"""`statsd-proxy run` as a child process in front of pipeline StatsD shards."""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.pipeline_process import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    free_udp_port,
)
from tests.support.pipeline_statsd import StatsdShard

READY_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0
ENV_PREFIX = "STATSD_PROXY_"


def proxy_command() -> list[str]:
    """Return the argv prefix that runs the CLI of the installed package.

    Prefers the console script next to the running interpreter, such as
    .venv/bin/statsd-proxy, and falls back to `python -m statsd_proxy`.
    """
    script = Path(sys.executable).with_name("statsd-proxy")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "statsd_proxy"]


@dataclass
class ProxyProcess:
    """A running proxy with its UDP listen port and its HTTP metrics port."""

    process: ManagedProcess
    listen_port: int
    metrics_port: int

    @property
    def address(self) -> tuple[str, int]:
        """UDP address the proxy receives StatsD lines on."""
        return (LOOPBACK, self.listen_port)

    def http_get(self, path: str) -> tuple[int, str]:
        """GET a path on the metrics port and return (status, body), including 4xx and 5xx."""
        url = f"http://{LOOPBACK}:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def ready(self) -> bool | None:
        """Return True once /readyz returns 200, None otherwise (a wait_for probe)."""
        self.process.check_running()
        status, _ = self.http_get("/readyz")
        return True if status == 200 else None

    def samples(self, name: str) -> list[tuple[dict[str, str], float]]:
        """Return (labels, value) of every sample called name on /metrics."""
        status, body = self.http_get("/metrics")
        if status != 200:
            raise RuntimeError(f"GET /metrics returned {status}: {body[:200]!r}")
        found = []
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == name:
                    found.append((dict(sample.labels), float(sample.value)))
        return found


def backend_options(shards: Sequence[StatsdShard]) -> list[str]:
    """Return one `--backend NAME=HOST:PORT` pair per shard, named after the shard."""
    options = []
    for shard in shards:
        options += ["--backend", f"{shard.name}={LOOPBACK}:{shard.port}"]
    return options


@contextlib.contextmanager
def run_proxy(
    shards: Sequence[StatsdShard], workdir: Path, extra_args: Sequence[str] = ()
) -> Iterator[ProxyProcess]:
    """Start the proxy with a static ring of the shards and wait for /readyz 200.

    The process is stopped and reaped on exit unless the caller already stopped it.
    """
    listen_port, metrics_port = free_udp_port(), free_port()
    argv = [
        *proxy_command(),
        "run",
        "--listen",
        f"{LOOPBACK}:{listen_port}",
        "--metrics-listen",
        f"{LOOPBACK}:{metrics_port}",
        "--log-format",
        "json",
        *backend_options(shards),
        *extra_args,
    ]
    # Settings inherited from the developer's shell must not change the ring or ports.
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    process = ManagedProcess("statsd-proxy", argv, workdir / "statsd-proxy.log", env=env)
    try:
        proxy = ProxyProcess(process, listen_port, metrics_port)
        process.wait_for(proxy.ready, READY_TIMEOUT, f"/readyz 200 on port {metrics_port}")
        yield proxy
    finally:
        process.stop()
