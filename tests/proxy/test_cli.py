"""Command-line and environment validation of ``statsd-proxy``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from statsd_proxy.cli import build_parser, config_from_args
from statsd_proxy.config import HostPort, parse_backend, parse_host_port
from statsd_proxy.ringdoc import Member


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STATSD_PROXY_")}
    return subprocess.run(
        [sys.executable, "-m", "statsd_proxy", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**clean, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--max-datagram", "10"],
            "argument --max-datagram: expected bytes from 64 to 65507, got '10'",
        ),
        (["--hash-key", "tags"], "argument --hash-key: expected one of series, name, got 'tags'"),
        (["--listen", "8125"], "argument --listen: expected HOST:PORT, got '8125'"),
        (["--workers", "0"], "argument --workers: expected a whole number of at least 1, got '0'"),
        (
            ["--backend", "a=127.0.0.1:1", "--backend", "a=127.0.0.1:2"],
            "duplicate member names ['a']",
        ),
        (["--backend", "bad_name!=h:1"], "invalid member name 'bad_name!'"),
        (["--ring-configmap", "noslash"], "expected NAMESPACE/NAME, got 'noslash'"),
        (["--receive-buffer", "4294967296"], "expected bytes from 0 to 2147483647"),
        (["--workers", "10000"], "expected from 1 to 64 workers, got '10000'"),
        (["--flush-interval-ms", "inf"], "expected a finite number of at least 0, got 'inf'"),
        (["--flush-interval-ms", "5000"], "expected milliseconds from 0 to 1000, got '5000'"),
    ],
)
def test_run_rejects_bad_value(args: list[str], message: str) -> None:
    base = (
        []
        if any(a in args for a in ("--backend", "--ring-configmap"))
        else ["--backend", "a=127.0.0.1:1"]
    )

    result = run_cli("run", *base, *args)

    assert result.returncode == 2
    assert message in result.stderr


def test_run_needs_one_source() -> None:
    result = run_cli("run")

    assert result.returncode == 2
    assert "choose exactly one membership source" in result.stderr


def test_run_rejects_two_sources() -> None:
    result = run_cli("run", "--backend", "a=127.0.0.1:1", "--ring-file", "/tmp/ring.json")

    assert result.returncode == 2
    assert "found: --backend, --ring-file" in result.stderr


def test_env_value_rejected() -> None:
    result = run_cli("run", env={"STATSD_PROXY_MAX_DATAGRAM": "huge"})

    assert result.returncode == 2
    assert "environment variable STATSD_PROXY_MAX_DATAGRAM='huge'" in result.stderr


def test_env_sets_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_PROXY_BACKEND", "a=127.0.0.1:9001 b=[::1]:9002,max-datagram=512")
    monkeypatch.setenv("STATSD_PROXY_TCP", "true")
    monkeypatch.setenv("STATSD_PROXY_HASH_KEY", "name")

    config = config_from_args(build_parser().parse_args(["run"]))

    assert config.backends == (Member("a", "127.0.0.1", 9001), Member("b", "::1", 9002, 512))
    assert config.tcp is True
    assert config.hash_key == "name"


def test_flag_overrides_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_PROXY_MAX_DATAGRAM", "8932")

    config = config_from_args(build_parser().parse_args(["run", "--max-datagram", "512"]))

    assert config.max_datagram == 512


def test_metrics_listen_off() -> None:
    config = config_from_args(build_parser().parse_args(["run", "--metrics-listen", "off"]))

    assert config.metrics_listen is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.0.0.0:8125", HostPort("0.0.0.0", 8125)), ("[::1]:8125", HostPort("::1", 8125))],
)
def test_parse_host_port(text: str, expected: HostPort) -> None:
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("::1:8125", "put an IPv6 address in brackets"),
        ("host:99999", "port must be a number from 0 to 65535"),
        ("host:", "port must be a number"),
        ("[nothex]:1", "invalid IPv6 address 'nothex'"),
    ],
)
def test_parse_host_port_invalid(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_host_port(text)


def test_parse_backend_option_unknown() -> None:
    with pytest.raises(ValueError, match="the only backend option is max-datagram"):
        parse_backend("a=h:1,weight=2")


def test_demo_passes() -> None:
    result = run_cli("demo", "--seconds", "1")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "each of" in result.stdout
    assert "all checks passed" in result.stdout


def test_ring_plan_add_member() -> None:
    result = run_cli("ring", "plan", "a,b,c", "a,b,c,d")

    assert result.returncode == 0, result.stderr
    moved = float(result.stdout.strip().splitlines()[-1].split()[-1].rstrip("%"))
    assert 15 < moved < 35


def test_flag_source_beats_env_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_PROXY_RING_FILE", "/etc/statsd-proxy/ring.json")
    args = build_parser().parse_args(["run", "--backend", "a=127.0.0.1:1"])

    config = config_from_args(args)

    assert config.ring_file is None
    assert config.backends == (Member("a", "127.0.0.1", 1),)


def test_flag_backends_replace_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATSD_PROXY_BACKEND", "a=127.0.0.1:1")

    config = config_from_args(build_parser().parse_args(["run", "--backend", "b=127.0.0.1:2"]))

    assert config.backends == (Member("b", "127.0.0.1", 2),)


def test_listen_in_use_reported(tmp_path: object) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        result = run_cli(
            "run",
            "--listen",
            f"127.0.0.1:{port}",
            "--backend",
            "a=127.0.0.1:1",
            "--metrics-listen",
            "off",
        )
    finally:
        holder.close()

    assert result.returncode == 1
    assert f"cannot listen on --listen 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_listen_in_use_reported() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        result = run_cli(
            "run",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "a=127.0.0.1:1",
            "--metrics-listen",
            f"127.0.0.1:{port}",
        )
    finally:
        holder.close()

    assert result.returncode == 1
    assert f"cannot listen on --metrics-listen 127.0.0.1:{port}" in result.stderr


def test_workers_listen_error_reported() -> None:
    result = run_cli(
        "run",
        "--listen",
        "192.0.2.1:8125",
        "--backend",
        "a=127.0.0.1:1",
        "--metrics-listen",
        "off",
        "--workers",
        "2",
    )

    assert result.returncode == 1
    assert "cannot listen on --listen 192.0.2.1:8125" in result.stderr


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("a,a,b", "a,b", "duplicate member names ['a']"),
        (",", "a", "no member names"),
        ("a", "/nonexistent/ring.json", "No such file or directory"),
    ],
)
def test_ring_plan_rejects(before: str, after: str, message: str) -> None:
    result = run_cli("ring", "plan", before, after)

    assert result.returncode == 2
    assert message in result.stderr


def test_ring_plan_long_list() -> None:
    names = ",".join(f"main-statsd-{index}" for index in range(40))

    result = run_cli("ring", "plan", names, names)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("moved: 0.00%")
