"""A real `statsd-proxy run` process that follows the operator's ring ConfigMap.

The proxy reads the Kubernetes API stand-in through the kubeconfig file that
the ``kube_api`` fixture writes. Its JSON log lines carry ISO 8601 UTC times
with microseconds, so the moment it switched to each ring version can be read
back from its ``ring_changed`` events, which it writes right after the
switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from tests.support.pipeline_process import LOOPBACK, ManagedProcess, free_port, free_udp_port
from tests.support.pipeline_proxy import ENV_PREFIX, READY_TIMEOUT, ProxyProcess, proxy_command

FORWARDED = "statsd_proxy_lines_forwarded_total"


@contextlib.asynccontextmanager
async def ring_proxy(
    kubeconfig: Path, configmap: str, workdir: Path
) -> AsyncIterator[ProxyProcess]:
    """Run the proxy with ``--ring-configmap`` until the block ends, from /readyz 200 on.

    The waits run in a thread, so an operator in the same event loop keeps working.
    The process is stopped with SIGTERM and reaped on exit.
    """
    listen_port, metrics_port = free_udp_port(), free_port()
    argv = [
        *proxy_command(),
        "run",
        "--ring-configmap",
        configmap,
        "--listen",
        f"{LOOPBACK}:{listen_port}",
        "--metrics-listen",
        f"{LOOPBACK}:{metrics_port}",
        "--log-format",
        "json",
    ]
    # Settings inherited from the developer's shell must not change the ring or ports.
    env = {key: value for key, value in os.environ.items() if not key.startswith(ENV_PREFIX)}
    env["KUBECONFIG"] = str(kubeconfig)
    process = ManagedProcess("statsd-proxy", argv, workdir / "statsd-proxy.log", env=env)
    try:
        proxy = ProxyProcess(process, listen_port, metrics_port)
        await asyncio.to_thread(
            process.wait_for, proxy.ready, READY_TIMEOUT, f"/readyz 200 on port {metrics_port}"
        )
        yield proxy
    finally:
        await asyncio.to_thread(process.stop)


def forwarded_by_member(proxy: ProxyProcess) -> dict[str, float]:
    """Return the proxy's lines_forwarded counter per member."""
    return {labels["member"]: value for labels, value in proxy.samples(FORWARDED)}


def ring_switch_times(log_path: Path) -> dict[int, float]:
    """Return ring version -> Unix time at which the proxy logged switching to it."""
    switches: dict[int, float] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == "ring_changed":
            moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            switches[int(event["version"])] = moment.timestamp()
    return switches
