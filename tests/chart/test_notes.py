"""NOTES.txt: the in-cluster address, a test command that works, the drop counters."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys

import pytest

from tests.chart.rendering import CHART, NAMESPACE, RELEASE, run_helm

ADDRESS = f"{RELEASE}.{NAMESPACE}.svc.cluster.local"


@pytest.fixture(scope="module")
def notes(helm: str) -> str:
    """The NOTES of a client-side dry-run install with default values."""
    result = run_helm(
        helm, ["install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client"]
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.partition("NOTES:")[2]
    assert text, "helm install --dry-run printed no NOTES"
    return text


def _test_command(notes: str) -> list[str]:
    lines = [line.strip() for line in notes.splitlines() if line.strip().startswith("kubectl run")]
    assert len(lines) == 1, f"expected one kubectl run line, found {lines!r}"
    words = shlex.split(lines[0])
    return words[words.index("--") + 1 :]


def test_notes_udp_address(notes: str) -> None:
    assert f"{ADDRESS}:8125" in notes


def test_notes_drop_counters(notes: str) -> None:
    assert "statsd_proxy_lines_dropped_total" in notes
    assert "9102" in notes


def test_notes_command_sends_datagram(notes: str) -> None:
    command = _test_command(notes)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    port = receiver.getsockname()[1]
    code = re.sub(rf"'{re.escape(ADDRESS)}', 8125", f"'127.0.0.1', {port}", command[-1])
    if code == command[-1]:
        pytest.fail(f"the test command does not send to {ADDRESS}:8125: {command!r}")

    with receiver:
        subprocess.run([sys.executable, *command[1:-1], code], check=True, timeout=30)
        payload = receiver.recv(65535)

    assert command[0] == "python"
    assert payload == b"statsd_proxy.test:1|c"
