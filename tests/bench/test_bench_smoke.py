"""Smoke test of the benchmark harness: its quick mode runs and produces figures.

It asserts only that figures exist, never a speed, because the machine is
shared and the quick mode's trials are short.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.proxies import DEFAULT_PROXY_JS

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run proxy.js"),
    pytest.mark.skipif(
        not DEFAULT_PROXY_JS.exists(),
        reason=f"Etsy StatsD is not installed at {DEFAULT_PROXY_JS}; run scripts/install-test-deps",
    ),
]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run `python -m bench.run --quick` once and return its JSON results."""
    work = tmp_path_factory.mktemp("bench")
    output = work / "results.json"
    command = [sys.executable, "-m", "bench.run", "--quick", "--work-dir", str(work)]
    command += ["--output", str(output), "--markdown", str(work / "report.md")]

    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=240, check=False
    )

    assert result.returncode == 0, f"bench.run --quick failed:\n{result.stderr[-3000:]}"
    results: dict[str, Any] = json.loads(output.read_text())
    results["report"] = (work / "report.md").read_text()
    return results


def _max_rates(results: dict[str, Any], label: str, shape: int) -> list[float]:
    return [s["max_rate"] for s in results["configs"][label]["searches"][str(shape)]]


@pytest.mark.parametrize("shape", [1, 30])
@pytest.mark.parametrize(
    "label",
    ["loopback", "proxy.js forks=0 rcvbuf=4MiB", "statsd-proxy workers=1 rcvbuf=4MiB"],
)
def test_quick_max_rate(quick_run: dict[str, Any], label: str, shape: int) -> None:
    rates = _max_rates(quick_run, label, shape)

    assert rates, f"{label}: no search ran for {shape}-line datagrams"
    assert max(rates) > 0, f"{label}: no rate passed for {shape}-line datagrams"


@pytest.mark.parametrize(
    "label", ["proxy.js forks=0 rcvbuf=4MiB", "statsd-proxy workers=1 rcvbuf=4MiB"]
)
def test_quick_cpu_and_rss(quick_run: dict[str, Any], label: str) -> None:
    entry = quick_run["configs"][label]

    assert entry["cpu"]["1"]["cpu_us_per_line"] > 0, f"{label}: no CPU figure"
    assert entry["peak_rss"], f"{label}: no peak RSS figure"


def test_quick_latency(quick_run: dict[str, Any]) -> None:
    rounds = quick_run["configs"]["statsd-proxy workers=1 rcvbuf=4MiB"]["latency"]["30"]

    assert rounds, "no latency trial ran"
    assert rounds[0]["count"] > 0, "no latency probe reached a receiver"


def test_quick_memory_run(quick_run: dict[str, Any]) -> None:
    memory = quick_run["memory"]["statsd-proxy workers=1 rcvbuf=4MiB"]

    assert memory["samples"], "the distinct-series run recorded no RSS sample"


def test_quick_report(quick_run: dict[str, Any]) -> None:
    report = quick_run["report"]

    assert "### Targets" in report, "the Markdown report has no targets table"
