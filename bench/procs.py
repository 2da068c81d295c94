"""Process and socket figures read from /proc: CPU time, RSS, UDP drops, buffers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Return `pid` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces, so split after it.
        fields = stat.rpartition(")")[2].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found = [pid]
    index = 0
    while index < len(found):
        found.extend(children.get(found[index], []))
        index += 1
    return found


def cpu_seconds(pids: list[int]) -> float:
    """Sum the CPU time of every thread of `pids`, in seconds.

    Reads the scheduler's nanosecond run time (the first field of each
    thread's schedstat), which is finer than the 10 ms ticks of
    /proc/PID/stat. Threads and processes gone since are skipped.
    """
    total_ns = 0
    for pid in pids:
        try:
            threads = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for thread in threads:
            try:
                total_ns += int((thread / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    return total_ns / 1e9


def user_system_ticks(pids: list[int]) -> tuple[int, int]:
    """Sum user and system CPU time of `pids` in clock ticks, from /proc/PID/stat."""
    user = system = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces, so split after it.
        fields = stat.rpartition(")")[2].split()
        user += int(fields[11])
        system += int(fields[12])
    return user, system


def _status_kib(pid: int, key: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def rss_bytes(pids: list[int]) -> int:
    """Sum the resident set size of `pids`."""
    return sum(_status_kib(pid, "VmRSS") for pid in pids) * 1024


def peak_rss_bytes(pids: list[int]) -> int:
    """Sum the peak resident set size (VmHWM) of `pids`."""
    return sum(_status_kib(pid, "VmHWM") for pid in pids) * 1024


@dataclass(frozen=True)
class UdpSocketStats:
    """Kernel counters of the UDP sockets bound to one local port."""

    sockets: int
    drops: int


def udp_socket_stats(port: int) -> UdpSocketStats:
    """Count the IPv4 UDP sockets on local `port` and their receive-queue drops."""
    sockets = 0
    drops = 0
    with open("/proc/net/udp", encoding="ascii") as file:
        next(file)
        for line in file:
            fields = line.split()
            if int(fields[1].rpartition(":")[2], 16) == port:
                sockets += 1
                drops += int(fields[-1])
    return UdpSocketStats(sockets=sockets, drops=drops)


def receive_buffer_bytes(port: int) -> int | None:
    """Return the receive buffer (skmem rb) of a UDP socket on `port`, from `ss`."""
    try:
        result = subprocess.run(
            ["ss", "-uanmH", "sport", "=", f":{port}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"rb(\d+)", result.stdout)
    return int(match.group(1)) if match else None


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """Return a port that is free on 127.0.0.1 for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as first:
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
            with socket.socket(socket.AF_INET, other) as second:
                try:
                    second.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1 after 50 attempts")


def read_sysctl(name: str) -> int | None:
    """Read an integer sysctl such as net.core.rmem_max."""
    try:
        return int(Path("/proc/sys", *name.split(".")).read_text().split()[0])
    except (OSError, ValueError):
        return None


def load_average() -> tuple[float, float, float]:
    """Return the 1, 5 and 15 minute load averages."""
    one, five, fifteen = os.getloadavg()
    return one, five, fifteen
