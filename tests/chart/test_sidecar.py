"""docs/sidecar.md: its manifests are valid, carry no API token, and its proxy routes.

The last test runs the snippet's proxy arguments for real, with the ring file,
the ports and the shard addresses moved to a temporary folder and 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from statsd_proxy.cli import build_parser, resolve_environment
from statsd_proxy.ringdoc import parse_ring

from tests.chart.proxyproc import free_port, running_proxy
from tests.chart.rendering import REPO, Manifest, only

SIDECAR_DOC = REPO / "docs" / "sidecar.md"
RING_PATH = "/etc/statsd-proxy/ring.json"
KUBERNETES_VERSIONS = ("1.25.0", "1.35.0")
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def documents() -> list[Manifest]:
    """Every object in the YAML blocks of the sidecar page."""
    blocks = _YAML_BLOCK.findall(SIDECAR_DOC.read_text())
    return [doc for block in blocks for doc in yaml.safe_load_all(block) if doc]


def _pod(documents: list[Manifest]) -> Manifest:
    spec: Manifest = only(documents, "Deployment")["spec"]["template"]["spec"]
    return spec


def _container(documents: list[Manifest], name: str) -> Manifest:
    found = [c for c in _pod(documents)["containers"] if c["name"] == name]
    assert len(found) == 1, f"expected one container named {name!r}"
    return found[0]


def _parse_args(args: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in [name for name in os.environ if name.startswith("STATSD_PROXY_")]:
        monkeypatch.delenv(name)
    parsed = build_parser().parse_args(args)
    resolve_environment(parsed)
    return parsed


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_objects_valid(documents: list[Manifest], tmp_path: Path, version: str) -> None:
    path = tmp_path / "sidecar.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    command = [sys.executable, "-m", "kubernetes_validate", "-k", version, "--strict", "--quiet"]

    result = subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Couldn't find schema" not in result.stdout + result.stderr


def test_no_api_token(documents: list[Manifest]) -> None:
    pod = _pod(documents)
    projected = [v for v in pod.get("volumes", []) if "projected" in v]

    assert pod["automountServiceAccountToken"] is False
    assert projected == []


def test_proxy_reads_ring_file(documents: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    args = _container(documents, "statsd-proxy")["args"]

    parsed = _parse_args(args, monkeypatch)

    assert parsed.ring_file == RING_PATH
    assert parsed.ring_configmap is None
    assert parsed.listen.host == "127.0.0.1"


def test_webapp_sends_to_proxy(documents: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _parse_args(_container(documents, "statsd-proxy")["args"], monkeypatch)

    env = {e["name"]: e["value"] for e in _container(documents, "webapp")["env"]}

    assert (env["STATSD_HOST"], int(env["STATSD_PORT"])) == (parsed.listen.host, parsed.listen.port)


def test_ring_mounted_whole_folder(documents: list[Manifest]) -> None:
    mounts = _container(documents, "statsd-proxy")["volumeMounts"]

    ring_mounts = [m for m in mounts if RING_PATH.startswith(m["mountPath"] + "/")]

    assert len(ring_mounts) == 1
    assert "subPath" not in ring_mounts[0]


def test_ring_volume_is_configmap(documents: list[Manifest]) -> None:
    mount = next(
        m
        for m in _container(documents, "statsd-proxy")["volumeMounts"]
        if RING_PATH.startswith(m["mountPath"] + "/")
    )

    volume = next(v for v in _pod(documents)["volumes"] if v["name"] == mount["name"])

    assert volume["configMap"]["name"].endswith("-ring")
    assert volume["configMap"]["items"] == [{"key": "ring.json", "path": "ring.json"}]


def test_proxy_container_secure(documents: list[Manifest]) -> None:
    context = _container(documents, "statsd-proxy")["securityContext"]

    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_example_ring_parses(documents: list[Manifest]) -> None:
    configmap = only(documents, "ConfigMap")

    ring = parse_ring(configmap["data"]["ring.json"])

    assert len(ring.members) == 2


def _local_ring(documents: list[Manifest], shards: list[socket.socket]) -> str:
    ring = json.loads(only(documents, "ConfigMap")["data"]["ring.json"])
    for member, shard in zip(ring["members"], shards, strict=True):
        member["host"], member["port"] = shard.getsockname()
    return json.dumps(ring)


def _local_args(args: list[str], ring: Path, listen_port: int, metrics_port: int) -> list[str]:
    replacements = {
        "--listen": f"127.0.0.1:{listen_port}",
        "--ring-file": str(ring),
        "--metrics-listen": f"127.0.0.1:{metrics_port}",
    }
    return [
        f"{arg.partition('=')[0]}={replacements[arg.partition('=')[0]]}"
        if arg.partition("=")[0] in replacements
        else arg
        for arg in args
    ]


def test_snippet_proxy_routes(documents: list[Manifest], tmp_path: Path) -> None:
    shards = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for shard in shards:
        shard.bind(("127.0.0.1", 0))
        shard.settimeout(5)
    ring = tmp_path / "ring.json"
    ring.write_text(_local_ring(documents, shards))
    listen_port, metrics_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    args = _local_args(
        _container(documents, "statsd-proxy")["args"], ring, listen_port, metrics_port
    )
    lines = b"\n".join(f"webapp.series{i}:1|c".encode() for i in range(40))

    with running_proxy(args, f"http://127.0.0.1:{metrics_port}", tmp_path / "proxy.log"):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sender:
            sender.sendto(lines, ("127.0.0.1", listen_port))
        received = [shard.recv(65535) for shard in shards]

    for shard in shards:
        shard.close()
    assert all(received)
    assert sorted(b"\n".join(received).split(b"\n")) == sorted(lines.split(b"\n"))
