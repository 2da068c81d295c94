"""Python stand-in for sender.c, used when gcc is missing.

Same options and JSON output as the C sender. One sendto() per datagram
caps it far below the C sender, so its figures show where it saturates.
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import sys
import time


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the sender.c options."""
    parser = argparse.ArgumentParser(prog="python -m bench.fallback_sender")
    parser.add_argument("--file", required=True)
    parser.add_argument("--lines-per-datagram", type=int, default=1)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--max-lines", type=int, default=sys.maxsize)
    parser.add_argument("--probe-rate", type=float, default=0.0)
    parser.add_argument("--dest", action="append", required=True)
    args = parser.parse_args(argv)
    if args.duration > 600 or args.lines_per_datagram < 1:
        parser.error("--duration must be at most 600 s and --lines-per-datagram at least 1")
    return args


def pack(path: str, per_datagram: int) -> list[tuple[bytes, int]]:
    """Split the traffic file into datagrams of `per_datagram` lines."""
    with open(path, "rb") as file:
        lines = file.read().splitlines()
    if not lines:
        raise SystemExit(f"sender: traffic file has no lines: {path}")
    return [
        (b"\n".join(lines[i : i + per_datagram]), len(lines[i : i + per_datagram]))
        for i in range(0, len(lines), per_datagram)
    ]


def main(argv: list[str] | None = None) -> int:
    """Send paced traffic and print the totals as JSON."""
    args = parse_args(argv)
    datagrams = pack(args.file, args.lines_per_datagram)
    destinations = []
    for text in args.dest:
        host, _, port = text.rpartition(":")
        destinations.append((host, int(port)))

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    paced = sent_lines = sent_datagrams = probes = errors = 0
    index = 0
    start = time.monotonic()
    stop = start + args.duration
    probe_interval = 1 / args.probe_rate if args.probe_rate > 0 else 0.0
    next_probe = start + probe_interval
    while (now := time.monotonic()) < stop and paced < args.max_lines:
        if probe_interval and now >= next_probe:
            probe = f"bench.probe.{probes % 8}:{time.monotonic_ns()}|g".encode()
            sock.sendto(probe, destinations[probes % len(destinations)])
            probes += 1
            next_probe += probe_interval
        due = min(args.max_lines, int((now - start) * args.rate) + 1)
        if paced >= due:
            time.sleep(max(0.0, start + (paced + 1) / args.rate - time.monotonic()))
            continue
        data, count = datagrams[index % len(datagrams)]
        try:
            sock.sendto(data, destinations[index % len(destinations)])
            sent_lines += count
            sent_datagrams += 1
        except OSError:
            errors += 1
        paced += count
        index += 1

    elapsed = time.monotonic() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    totals: dict[str, float] = {"lines": sent_lines, "datagrams": sent_datagrams}
    totals |= {"probes": probes}
    totals |= {"errors": errors, "elapsed": elapsed}
    totals |= {"cpu_user": usage.ru_utime, "cpu_sys": usage.ru_stime}
    print(json.dumps(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
