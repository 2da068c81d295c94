"""Start and stop the proxies under test: Etsy's proxy.js and statsd-proxy.

Each proxy listens on a free UDP port on 127.0.0.1 and forwards to the
receivers' three UDP ports. Every proxy runs in its own process group so
that stopping it also stops the workers it forked.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.backends import HOST, Receivers
from bench.procs import descendants, free_port

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_PROXY_JS = BENCH_DIR.parent / ".deps" / "node" / "node_modules" / "statsd" / "proxy.js"
# proxy.js keeps its key-to-node lookups in an LRU cache of this many keys.
# It covers the million-series run, which is the best case for proxy.js.
PROXY_JS_CACHE_SIZE = 2_000_000


@dataclass(frozen=True)
class ProxySpec:
    """One configuration under test.

    `receive_buffer` is the SO_RCVBUF request in bytes; None leaves the kernel
    default (net.core.rmem_default). `kind` is "proxy.js", "statsd-proxy" or
    "loopback" (the generator sends straight to the receivers).
    """

    label: str
    kind: str
    workers: int = 1
    receive_buffer: int | None = None


class RunningProxy:
    """A started proxy: its UDP port and process group."""

    def __init__(self, spec: ProxySpec, port: int, process: subprocess.Popen[bytes], log: Path):
        self.spec = spec
        self.port = port
        self.process = process
        self.log = log

    def pids(self) -> list[int]:
        """Return the proxy's process and all its workers."""
        return descendants(self.process.pid)

    def exited(self) -> bool:
        """Return whether the main process has exited."""
        return self.process.poll() is not None

    def stop(self, timeout: float = 5.0) -> int | None:
        """Send SIGTERM to the main process, then SIGKILL to the group after `timeout`; reap.

        Only the main process gets SIGTERM, as in a container, so it stops
        its own workers the way it would in production.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        # Workers left behind by a main process that died get the same treatment.
        _signal_group(self.process.pid, signal.SIGKILL)
        return self.process.returncode


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def proxy_js_config(port: int, mgmt_port: int, receivers: Receivers, fork_count: int) -> str:
    """Return a proxy.js configuration (a JavaScript object literal, here JSON)."""
    nodes = [
        {"host": HOST, "port": udp, "adminport": admin}
        for udp, admin in zip(receivers.udp_ports, receivers.admin_ports, strict=True)
    ]
    config = {
        "nodes": nodes,
        "server": "./servers/udp",
        "address": HOST,
        "port": port,
        "mgmt_address": HOST,
        "mgmt_port": mgmt_port,
        "forkCount": fork_count,
        "checkInterval": 1000,
        "cacheSize": PROXY_JS_CACHE_SIZE,
        "automaticConfigReload": False,
    }
    return json.dumps(config, indent=2)


def start_proxy_js(
    spec: ProxySpec, receivers: Receivers, work_dir: Path, proxy_js: Path
) -> RunningProxy:
    """Start proxy.js with `spec.workers` forks (0 or 1 means no cluster)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node not found on PATH: proxy.js cannot run")
    port = free_port()
    fork_count = spec.workers if spec.workers > 1 else 0
    config = work_dir / f"proxyjs-{port}.js"
    config.write_text(proxy_js_config(port, free_port(), receivers, fork_count))
    env = dict(os.environ)
    env["BENCH_RCVBUF"] = str(spec.receive_buffer or 0)
    args = [node, "-r", str(BENCH_DIR / "node_rcvbuf.js"), str(proxy_js), str(config)]
    log = work_dir / "logs" / f"proxyjs-{port}.log"
    # proxy.js loads ./servers/udp relative to its own folder.
    return RunningProxy(spec, port, _spawn(args, env, log), log)


def statsd_proxy_command() -> list[str]:
    """Return the statsd-proxy console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "statsd-proxy"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("statsd-proxy")
    if found is None:
        raise RuntimeError("statsd-proxy is not installed in this environment")
    return [found]


def start_statsd_proxy(
    spec: ProxySpec, receivers: Receivers, work_dir: Path, default_request: int
) -> RunningProxy:
    """Start `statsd-proxy run` with static backends and the spec's workers and buffer.

    statsd-proxy always sets SO_RCVBUF, so the kernel-default configuration
    requests `default_request`: half of net.core.rmem_default, because the
    kernel doubles every request to leave room for its bookkeeping.
    """
    port = free_port()
    args = [
        *statsd_proxy_command(),
        "run",
        "--listen",
        f"{HOST}:{port}",
        "--metrics-listen",
        f"{HOST}:{free_port(socket.SOCK_STREAM)}",
        "--workers",
        str(spec.workers),
        "--receive-buffer",
        str(spec.receive_buffer or default_request),
        "--log-level",
        "warning",
        "--log-format",
        "json",
    ]
    for index, destination in enumerate(receivers.destinations):
        args += ["--backend", f"shard-{index}={destination}"]
    log = work_dir / "logs" / f"statsd-proxy-{port}.log"
    return RunningProxy(spec, port, _spawn(args, dict(os.environ), log), log)
