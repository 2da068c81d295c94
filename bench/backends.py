"""The line-counting backends: one receiver process serving three StatsD ports.

Each backend has a UDP port that counts datagrams and lines and a TCP admin
port that replies to proxy.js's health check. The admin port also returns the
counters (`stats`), the probe delays (`latency`) and zeroes them (`reset`).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Counts:
    """Totals over all backends since the last reset."""

    datagrams: int
    lines: int
    bytes: int
    lines_per_backend: tuple[int, ...]


def admin_command(port: int, command: str, timeout: float = 5.0) -> str:
    """Send one admin command to 127.0.0.1:`port` and return the one-line reply."""
    with socket.create_connection((HOST, port), timeout=timeout) as conn:
        conn.sendall(command.encode() + b"\n")
        reply = b""
        deadline = time.monotonic() + timeout
        while not reply.endswith(b"\n"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"admin port {port} sent no full reply to {command!r}")
            chunk = conn.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode().strip()


class Receivers:
    """A running receiver process and its UDP and admin ports."""

    def __init__(self, command: tuple[str, ...], backends: int = 3, max_seconds: int = 3600):
        args = [*command, "--backends", str(backends), "--max-seconds", str(max_seconds)]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        first_line = self.process.stdout.readline() if self.process.stdout else ""
        if not first_line:
            self.stop()
            raise RuntimeError(f"receiver {command[0]!r} exited before reporting its ports")
        ports = json.loads(first_line)
        self.udp_ports: list[int] = ports["udp"]
        self.admin_ports: list[int] = ports["admin"]

    @property
    def destinations(self) -> list[str]:
        """The UDP addresses, as HOST:PORT."""
        return [f"{HOST}:{port}" for port in self.udp_ports]

    def command(self, command: str) -> str:
        """Run an admin command on the first backend's admin port."""
        return admin_command(self.admin_ports[0], command)

    def reset(self) -> None:
        """Zero the counters and drop the latency samples."""
        self.command("reset")

    def counts(self) -> Counts:
        """Read the counters."""
        stats = json.loads(self.command("stats"))
        return Counts(
            datagrams=sum(stats["datagrams"]),
            lines=sum(stats["lines"]),
            bytes=sum(stats["bytes"]),
            lines_per_backend=tuple(stats["lines"]),
        )

    def latency(self) -> dict[str, Any]:
        """Read the probe delay percentiles, in microseconds."""
        result: dict[str, Any] = json.loads(self.command("latency"))
        return result

    def settle(self, quiet: float = 0.15, timeout: float = 3.0) -> Counts:
        """Wait until the line count stops moving for `quiet` seconds, then return it."""
        deadline = time.monotonic() + timeout
        last = self.counts()
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.counts()
            if now.lines != last.lines:
                last = now
                stable_since = time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                return now
        return last

    def stop(self) -> None:
        """Stop the process and reap it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
