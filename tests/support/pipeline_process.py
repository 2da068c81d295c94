"""Child processes, loopback ports and deadlines for the pipeline harness.

Every server the pipeline tests start runs as a ManagedProcess: its output goes to
a log file whose tail is quoted in failure messages, and stop() always reaps it,
escalating from SIGTERM to SIGKILL.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

LOOPBACK = "127.0.0.1"

T = TypeVar("T")


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """Return a port on 127.0.0.1 that the kernel reported free for this socket kind.

    NOTE: the port is released before the caller binds it, so another process can
    take it in between. On a test machine that race is rare and fails loudly.
    """
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def free_udp_port() -> int:
    """Return a UDP port on 127.0.0.1 that is free right now."""
    return free_port(socket.SOCK_DGRAM)


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    message: str,
    interval: float = 0.05,
) -> T:
    """Call probe until it returns something other than None, or raise TimeoutError.

    A probe that raises OSError counts as not ready yet (a port not listening).
    """
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        try:
            result = probe()
        except OSError as error:
            result = None
            last_error = error
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f} s: {message}{detail}")
        time.sleep(interval)


class ManagedProcess:
    """A child process whose stdout and stderr go to one log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )

    @property
    def pid(self) -> int:
        """Process id of the child."""
        return self.popen.pid

    def log_tail(self, max_chars: int = 2000) -> str:
        """Return the end of the process's log file, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"<log {self.log_path} unreadable: {error}>"
        return text[-max_chars:]

    def check_running(self) -> None:
        """Raise RuntimeError, quoting the log, if the process has exited."""
        code = self.popen.poll()
        if code is not None:
            raise RuntimeError(
                f"{self.name} exited early with code {code}; "
                f"command {self.argv!r}; log {self.log_path}:\n{self.log_tail()}"
            )

    def wait_for(self, probe: Callable[[], T | None], timeout: float, condition: str) -> T:
        """Wait until probe returns something other than None; quote the log on timeout."""
        try:
            return wait_for(probe, timeout, f"{self.name}: {condition}")
        except TimeoutError as error:
            raise TimeoutError(f"{error}; log {self.log_path}:\n{self.log_tail()}") from None

    def stop(self, grace: float = 5.0) -> int:
        """Send SIGTERM, wait up to grace seconds, then SIGKILL; reap and return the exit code."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                return self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()
