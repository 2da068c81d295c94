"""Sample statsd-proxy's Python stacks with py-spy while the generator loads it.

py-spy (PyPI `py-spy`) is optional: without it the profile is skipped with a
message. The summary lists the functions with the largest share of the
samples, both where the sample was taken (self) and anywhere on the stack
(inclusive). py-spy leaves out idle samples, so shares are of busy time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_RATE = 250  # samples per second


@dataclass
class ProfileRun:
    """A py-spy recording in progress."""

    process: subprocess.Popen[bytes]
    output: Path


def py_spy_path() -> str | None:
    """Return the py-spy executable of this environment, or None."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


def start_recording(pid: int, seconds: float, output: Path) -> ProfileRun | None:
    """Start sampling `pid` for `seconds` into `output` (raw collapsed stacks)."""
    py_spy = py_spy_path()
    if py_spy is None:
        return None
    args = [py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    args += ["--rate", str(SAMPLE_RATE), "--format", "raw", "--nonblocking"]
    args += ["--output", str(output)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return ProfileRun(process=process, output=output)


def finish_recording(run: ProfileRun, timeout: float = 30.0) -> dict[str, Any]:
    """Wait for py-spy to write its output and return the summary."""
    try:
        _, stderr = run.process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.communicate(timeout=5)
        return {"error": f"py-spy did not finish within {timeout:.0f} s"}
    if not run.output.exists():
        message = stderr.decode(errors="replace").strip()[-500:]
        return {"error": f"py-spy wrote no profile (exit {run.process.returncode}): {message}"}
    return summarize(run.output.read_text())


def _frame_name(frame: str) -> str:
    # py-spy writes frames as "function (path/to/file.py:LINE)"; the line number
    # differs within one function, so it is dropped to group by function.
    name, _, location = frame.partition(" (")
    path = location.rstrip(")").rpartition(":")[0]
    short = "/".join(Path(path).parts[-2:]) if path else "?"
    return f"{name} ({short})"


def summarize(raw: str, top: int = 15) -> dict[str, Any]:
    """Turn py-spy raw output (`frame;frame;... count` lines) into top-N shares."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return {"samples": 0, "self": [], "inclusive": []}
    # Frames on nearly every stack (the event loop's entry points) carry no information.
    informative = [(n, c / total) for n, c in inclusive.most_common() if c / total < 0.98]
    return {
        "samples": total,
        "self": [(name, count / total) for name, count in self_counts.most_common(top)],
        "inclusive": informative[:top],
    }


class Recorder(threading.Thread):
    """Runs one recording in a thread so the caller can drive load meanwhile."""

    def __init__(self, pid: int, seconds: float, output: Path):
        super().__init__(name="py-spy-recorder", daemon=True)
        self.pid = pid
        self.seconds = seconds
        self.output = output
        self.result: dict[str, Any] = {"error": "py-spy not found; install it with pip"}

    def run(self) -> None:
        """Record and keep the summary in `result`."""
        recording = start_recording(self.pid, self.seconds, self.output)
        if recording is not None:
            self.result = finish_recording(recording, timeout=self.seconds + 30)


def _perf_report(data: Path, sort: str, top: int) -> list[tuple[str, float]]:
    args = ["perf", "report", "--input", str(data), "--sort", sort, "--stdio"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    rows: list[tuple[str, float]] = []
    for line in result.stdout.splitlines():
        text = line.strip()
        if not text or text.startswith("#") or "%" not in text:
            continue
        share, _, name = text.partition("%")
        try:
            rows.append((name.strip(), float(share) / 100))
        except ValueError:
            continue
    return rows[:top]


class PerfRecorder(threading.Thread):
    """Samples on-CPU time of one process with `perf record`, kernel included.

    Unlike py-spy, perf samples only time spent on a CPU, and it splits that
    time between the kernel, the Python interpreter and the event loop's C code.
    """

    def __init__(self, pid: int, seconds: float, output: Path):
        super().__init__(name="perf-recorder", daemon=True)
        self.pid = pid
        self.seconds = seconds
        self.output = output
        self.result: dict[str, Any] = {"error": "perf not found; install Debian's linux-perf"}

    def run(self) -> None:
        """Record, then keep the shares by shared object and by symbol in `result`."""
        if shutil.which("perf") is None:
            return
        args = ["perf", "record", "-F", "999", "-p", str(self.pid), "-o", str(self.output)]
        args += ["--", "sleep", f"{self.seconds:.1f}"]
        try:
            subprocess.run(args, capture_output=True, timeout=self.seconds + 30, check=True)
        except (OSError, subprocess.SubprocessError) as error:
            self.result = {"error": f"perf record failed: {error}"}
            return
        self.result = {
            "by_object": _perf_report(self.output, "dso", 8),
            "by_symbol": _perf_report(self.output, "sym", 20),
        }
