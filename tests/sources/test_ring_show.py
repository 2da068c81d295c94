"""``statsd-proxy ring show`` as a real process, reading each kind of source."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from statsd_proxy.ringdoc import parse_ring

from tests.support.kube_api import KubeApi
from tests.support.kube_objects import config_map, endpoint_slice

RING = (
    '{"version": 4, "hashKey": "name", "effectiveAt": "2026-12-04T15:00:10Z", "members": ['
    '{"name": "main-statsd-1", "host": "10.0.3.18", "port": 8125},'
    '{"name": "main-statsd-0", "host": "10.0.3.17", "port": 8125, "maxDatagram": 8932}]}'
)


def ring_show(*args: str, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATSD_PROXY_")}
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    return subprocess.run(
        [sys.executable, "-m", "statsd_proxy", "ring", "show", "--timeout", "10", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )


def test_show_configmap(kube_api: KubeApi) -> None:
    kube_api.create(config_map("main-ring", {"ring.json": RING}))

    result = ring_show("--ring-configmap", "default/main-ring", kubeconfig=kube_api.kubeconfig)
    lines = result.stdout.splitlines()

    assert result.returncode == 0, result.stderr
    assert "version:      4" in lines
    assert "effective at: 2026-12-04T15:00:10Z" in result.stdout
    assert "hash key:     name (from the ring)" in lines
    assert lines[-2].split() == ["main-statsd-0", "10.0.3.17:8125", "-", "yes", "8932"]
    assert lines[-1].split() == ["main-statsd-1", "10.0.3.18:8125", "-", "yes", "-"]


def test_show_missing_configmap(kube_api: KubeApi) -> None:
    result = ring_show("--ring-configmap", "default/main-ring", kubeconfig=kube_api.kubeconfig)

    assert result.returncode == 1
    assert "ConfigMap default/main-ring does not exist" in result.stderr
    assert result.stdout == ""


def test_show_endpoints_failover(kube_api: KubeApi) -> None:
    endpoints = [
        {"addresses": ["10.0.3.17"], "conditions": {"ready": True}, "hostname": "shard-0"},
        {"addresses": ["10.0.3.18"], "conditions": {"ready": False}, "hostname": "shard-1"},
    ]
    kube_api.create(endpoint_slice("statsd-a", "statsd", endpoints, port=9125))

    result = ring_show(
        "--ring-endpoints",
        "default/statsd",
        "--unready-policy",
        "failover",
        kubeconfig=kube_api.kubeconfig,
    )
    lines = result.stdout.splitlines()

    assert result.returncode == 0, result.stderr
    assert "version:      1" in lines
    assert lines[-2].split() == ["shard-0", "10.0.3.17:9125", "-", "yes", "-"]
    assert lines[-1] == "not ready, left out of the ring: shard-1"


def test_show_file_as_json(tmp_path: Path) -> None:
    path = tmp_path / "ring.json"
    path.write_text(RING)

    result = ring_show("--ring-file", str(path), "--output", "json")
    shown = parse_ring(result.stdout)

    assert result.returncode == 0, result.stderr
    assert [member.name for member in shown.members] == ["main-statsd-0", "main-statsd-1"]
    assert set(shown.members) == set(parse_ring(RING).members)
    assert shown.effective_at == parse_ring(RING).effective_at


def test_show_needs_one_source() -> None:
    result = ring_show()

    assert result.returncode == 2
    assert "choose exactly one membership source" in result.stderr
