"""``statsd-proxy run`` as a child process fed by a ring file or the ring ConfigMap."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.support.pipeline_process import LOOPBACK, ManagedProcess, free_port, free_udp_port
from tests.support.pipeline_proxy import ProxyProcess, proxy_command

READY_SECONDS = 20.0


@contextlib.contextmanager
def proxy_process(
    workdir: Path,
    name: str,
    source_options: Sequence[str],
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[ProxyProcess]:
    """Start a proxy on 127.0.0.1, wait for ``/readyz`` 200, and stop and reap it on exit."""
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
        "--workers",
        str(workers),
        *source_options,
    ]
    # Settings from the developer's shell must not change the proxy's ring or ports.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATSD_PROXY_")}
    process = ManagedProcess(name, argv, workdir / f"{name}.log", env={**clean, **(env or {})})
    try:
        proxy = ProxyProcess(process, listen_port, metrics_port)
        process.wait_for(proxy.ready, READY_SECONDS, f"/readyz 200 on port {metrics_port}")
        yield proxy
    finally:
        process.stop(grace=15.0)
