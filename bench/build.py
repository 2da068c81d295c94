"""Compile the C load generator and receivers with the machine's gcc.

The binaries go to a work folder (by default .deps/bench/ in the repository),
named after a hash of their source so an edited source is rebuilt. Without
gcc the harness falls back to the Python versions in this package, which
are much slower, and the report states which generator ran.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_WORK_DIR = REPO_DIR / ".deps" / "bench"
CFLAGS = ("-O2", "-Wall", "-Wextra", "-std=gnu11")


@dataclass(frozen=True)
class Tools:
    """Commands that start the load generator and the receivers."""

    sender: tuple[str, ...]
    receiver: tuple[str, ...]
    compiled: bool


def _compile(gcc: str, name: str, work_dir: Path) -> Path:
    source = BENCH_DIR / f"{name}.c"
    digest = hashlib.sha256(source.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:12]
    binary = work_dir / f"{name}-{digest}"
    if binary.exists():
        return binary
    work_dir.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    command = [gcc, *CFLAGS, "-o", str(partial), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"compiling {source} failed:\n{result.stderr}")
    partial.replace(binary)
    return binary


def build_tools(work_dir: Path) -> Tools:
    """Compile the C tools, or return the Python fallbacks when gcc is missing."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        print(
            "bench: gcc not found, so the Python load generator and receivers are used. "
            "They saturate far below the C tools: install gcc for meaningful figures.",
            file=sys.stderr,
        )
        python = sys.executable
        return Tools(
            sender=(python, "-m", "bench.fallback_sender"),
            receiver=(python, "-m", "bench.fallback_receiver"),
            compiled=False,
        )
    return Tools(
        sender=(str(_compile(gcc, "sender", work_dir)),),
        receiver=(str(_compile(gcc, "receiver", work_dir)),),
        compiled=True,
    )
