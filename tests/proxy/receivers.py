"""Real UDP receivers on loopback that record every datagram, for the proxy's tests."""

from __future__ import annotations

import socket
import threading
import time

from statsd_proxy.lines import split_lines


class UdpReceiver:
    """Receives datagrams on 127.0.0.1 in a thread and keeps them in arrival order."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self._sock.bind((host, port))
        self._sock.settimeout(0.05)
        self.port: int = self._sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self._lock = threading.Lock()
        self._running = True
        self._thread = threading.Thread(target=self._receive, name=f"receiver-{name}", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """The ``127.0.0.1:PORT`` address to give the proxy."""
        return f"127.0.0.1:{self.port}"

    @property
    def lines(self) -> list[bytes]:
        """Every line received so far, in order."""
        with self._lock:
            datagrams = list(self.datagrams)
        return [line for datagram in datagrams for line in split_lines(datagram)]

    def wait_for_lines(self, count: int, seconds: float = 5.0) -> list[bytes]:
        """Wait until at least ``count`` lines arrived; raise `TimeoutError` otherwise."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            lines = self.lines
            if len(lines) >= count:
                return lines
            time.sleep(0.01)
        raise TimeoutError(f"{self.name} received {len(self.lines)} lines, expected {count}")

    def close(self) -> None:
        """Stop the thread and close the socket."""
        self._running = False
        self._thread.join(timeout=2)
        self._sock.close()

    def _receive(self) -> None:
        while self._running:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.datagrams.append(data)


def settle(receivers: list[UdpReceiver], expected: int, seconds: float = 5.0) -> None:
    """Wait until the receivers together hold ``expected`` lines and no more arrive."""
    deadline = time.monotonic() + seconds
    total = -1
    while time.monotonic() < deadline:
        current = sum(len(r.lines) for r in receivers)
        if current >= expected and current == total:
            return
        total = current
        time.sleep(0.05)
    raise TimeoutError(f"receivers hold {total} lines, expected {expected}")
