"""Commands against the kind cluster of the end-to-end test, each with a deadline.

The test needs a Docker engine, kind, kubectl and helm. Settings come from
environment variables:

- ``STATSD_E2E_CLUSTER``: kind cluster name (default ``statsd-proxy-e2e``).
- ``STATSD_E2E_REUSE=1``: use that cluster if it exists instead of creating it.
- ``STATSD_E2E_KEEP=1``: keep the cluster after the run, for debugging.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests.chart.rendering import find_helm

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[1]
CLUSTER = os.environ.get("STATSD_E2E_CLUSTER", "statsd-proxy-e2e")
CONTEXT = f"kind-{CLUSTER}"
NAMESPACE = "statsd-e2e"
IMAGE = "statsd-proxy:e2e"
RELEASE = "statsd-proxy"
STATSD_CLUSTER = "main"
HOW_TO_RUN = "run e2e/run-kind.sh on a machine with Docker, kind, kubectl and helm"


def missing_prerequisites() -> list[str]:
    """Return what this machine lacks for the end-to-end test, or [] when it can run it."""
    missing = [
        f"{tool} is not on PATH" for tool in ("docker", "kind", "kubectl") if not shutil.which(tool)
    ]
    if find_helm() is None:
        missing.append("helm is not in .deps/bin or on PATH")
    if shutil.which("docker"):
        try:
            info = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
            engine_up = info.returncode == 0
        except subprocess.TimeoutExpired:
            engine_up = False
        if not engine_up:
            missing.append("no Docker engine answers `docker info`")
    return missing


def run(command: Sequence[str], timeout: float, stdin: str | None = None) -> str:
    """Run a command and return its stdout, or raise RuntimeError with its stderr."""
    try:
        result = subprocess.run(
            list(command), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise TimeoutError(f"{command[0]} timed out after {timeout:.0f} s: {command!r}") from error
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def kubectl(*args: str, timeout: float = 60, stdin: str | None = None) -> str:
    """Run kubectl against the test cluster and namespace."""
    return run(["kubectl", "--context", CONTEXT, "-n", NAMESPACE, *args], timeout, stdin)


def kubectl_json(*args: str, timeout: float = 60) -> Any:
    """Run kubectl with ``-o json`` and return the decoded output."""
    return json.loads(kubectl(*args, "-o", "json", timeout=timeout))


def helm(*args: str, timeout: float = 600) -> str:
    """Run helm against the test cluster and namespace."""
    binary = find_helm()
    assert binary is not None, "helm disappeared during the run"
    return run([binary, "--kube-context", CONTEXT, "--namespace", NAMESPACE, *args], timeout)


def wait_for(probe: Callable[[], T | None], timeout: float, message: str, interval: float = 2) -> T:
    """Call ``probe`` until it returns something other than None, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (RuntimeError, KeyError, ValueError) as error:
            result, last_error = None, error
        if result is not None:
            return result
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}{detail}")


def cluster_exists() -> bool:
    """Tell whether the kind cluster exists."""
    return CLUSTER in run(["kind", "get", "clusters"], timeout=60).split()


def create_cluster() -> None:
    """Create the kind cluster and wait for its control plane."""
    run(["kind", "create", "cluster", "--name", CLUSTER, "--wait", "180s"], timeout=600)


def delete_cluster() -> None:
    """Delete the kind cluster."""
    run(["kind", "delete", "cluster", "--name", CLUSTER], timeout=300)


def ensure_namespace() -> None:
    """Create the test namespace unless it exists."""
    base = ["kubectl", "--context", CONTEXT]
    manifest = run([*base, "create", "namespace", NAMESPACE, "--dry-run=client", "-o", "yaml"], 60)
    run([*base, "apply", "-f", "-"], timeout=60, stdin=manifest)


def build_and_load_image() -> None:
    """Build the project's image and load it into the kind nodes."""
    run(["docker", "build", "--tag", IMAGE, str(REPO)], timeout=1200)
    run(["kind", "load", "docker-image", IMAGE, "--name", CLUSTER], timeout=600)


def run_pod(name: str, code: str, timeout: float = 180) -> str:
    """Run Python ``code`` in a throwaway pod of the project's image and return its output."""
    return kubectl(
        "run", name, "--rm", "-i", "--quiet", "--restart=Never",
        f"--image={IMAGE}", "--image-pull-policy=Never",
        "--command", "--", "python", "-c", code,
        timeout=timeout,
    )  # fmt: skip
