"""A real ``statsd-proxy run`` child process for the chart and docs tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port(kind: socket.SocketKind) -> int:
    """Return a port on 127.0.0.1 that is free right now for sockets of ``kind``.

    NOTE: the port is released before the proxy binds it, so another process
    could take it in between; the proxy then fails to start, loudly.
    """
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(url: str) -> tuple[int, str]:
    """Return the status and body of a GET, with HTTP errors as their status."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def _wait_ready(metrics_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"statsd-proxy exited with {process.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError):
            if http_get(f"{metrics_url}/readyz")[0] == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"statsd-proxy not ready within {START_TIMEOUT} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextlib.contextmanager
def running_proxy(args: Sequence[str], metrics_url: str, log: Path) -> Iterator[None]:
    """Run ``statsd-proxy`` with ``args`` until it is ready; stop and reap it on exit.

    ``metrics_url`` is the http://HOST:PORT that ``args`` give to --metrics-listen.
    STATSD_PROXY_* variables of the test's environment are not passed on.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATSD_PROXY_")}
    with log.open("wb") as output:
        command = [sys.executable, "-m", "statsd_proxy", *args]
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(metrics_url, process, log)
            yield
        finally:
            _stop(process)
