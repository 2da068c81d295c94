"""Prometheus metrics, health and readiness over HTTP.

The data plane counts in plain integers (see `statsd_proxy.stats`); a custom
collector turns snapshots of them into metric families at scrape time. With
several workers, the supervisor sums the snapshots its workers send it.
The HTTP server runs in a daemon thread from the standard library, so a slow
client cannot hold up the event loop that routes traffic.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from statsd_proxy.ingress import ListenError

Snapshot = dict[str, Any]
WsgiEnviron = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_PREFIX = "statsd_proxy_"


class ProxyCollector(Collector):
    """Builds the proxy's metric families from a stats snapshot."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        data = self._snapshot()
        yield from _traffic_families(data)
        yield from _member_families(data)
        yield from _ring_families(data)


def _counter(name: str, documentation: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(_PREFIX + name, documentation, labels=list(labels))


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(_PREFIX + name, documentation, labels=list(labels))


def _traffic_families(data: Snapshot) -> Iterator[Metric]:
    datagrams = _counter(
        "datagrams_received", "Datagrams (TCP: chunks of lines) received.", ["transport"]
    )
    for transport, value in data["datagrams"].items():
        datagrams.add_metric([transport], value)
    yield datagrams
    yield _single(
        _counter("datagrams_failed", "Datagrams whose routing raised an error."),
        data["datagrams_failed"],
    )
    yield _single(
        _counter("lines_received", "Lines received, including invalid and blank ones."),
        data["lines_received"],
    )
    yield _single(
        _counter("lines_invalid", "Lines without a name, ':' and '|', dropped."),
        data["lines_invalid"],
    )
    dropped = _counter("lines_dropped", "Lines dropped, by reason.", ["reason"])
    for reason, value in data["dropped"].items():
        dropped.add_metric([reason], value)
    yield dropped


def _member_families(data: Snapshot) -> Iterator[Metric]:
    forwarded = _counter("lines_forwarded", "Lines sent to each member.", ["member"])
    sent = _counter("datagrams_sent", "Datagrams sent to each member.", ["member"])
    errors = _counter("send_errors", "Send errors reported for each member's socket.", ["member"])
    for member, counts in sorted(data["members"].items()):
        forwarded.add_metric([member], counts["lines_forwarded"])
        sent.add_metric([member], counts["datagrams_sent"])
        errors.add_metric([member], counts["send_errors"])
    yield from (forwarded, sent, errors)
    ready = _gauge(
        "member_ready", "1 if the membership source reports the member ready.", ["member"]
    )
    for member, value in sorted(data["member_ready"].items()):
        ready.add_metric([member], value)
    yield ready


def _ring_families(data: Snapshot) -> Iterator[Metric]:
    yield _single(
        _gauge("ring_version", "Version of the ring in use; -1 before the first."),
        data["ring_version"],
    )
    yield _single(_gauge("ring_members", "Members in the ring in use."), data["ring_members"])
    yield _single(
        _counter("ring_updates", "Rings switched to, including address refreshes."),
        data["ring_updates"],
    )
    yield _single(
        _gauge("ring_stale", "1 while routing with the last good ring because the source failed."),
        data["ring_stale"],
    )
    errors = _counter("discovery_errors", "Membership source errors, by kind.", ["kind"])
    for kind, value in sorted(data["discovery_errors"].items()):
        errors.add_metric([kind], value)
    yield errors
    policy = _gauge("unready_policy", "1 for the policy applied to not-ready members.", ["policy"])
    for name in ("hold", "failover"):
        policy.add_metric([name], 1 if data["unready_policy"] == name else 0)
    yield policy


def _single(family: CounterMetricFamily | GaugeMetricFamily, value: float) -> Metric:
    family.add_metric([], value)
    return family


class _ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingWsgiServer6(_ThreadingWsgiServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Drop the per-request access log; scrapes every few seconds are noise."""


class Heartbeat:
    """Proof that the event loop still runs, for ``/healthz``.

    The HTTP server responds from its own thread, so without this a proxy
    whose event loop is stuck would still look healthy to a liveness probe.
    """

    def __init__(self, limit: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._last = clock()

    def beat(self) -> None:
        """Record that the event loop ran just now."""
        self._last = self._clock()

    def stalled_for(self) -> float:
        """Return seconds since the last beat when over the limit, else 0."""
        silent = self._clock() - self._last
        return silent if silent > self._limit else 0.0

    async def run(self, interval: float = 1.0) -> None:
        """Beat every ``interval`` seconds until cancelled."""
        while True:
            self.beat()
            await asyncio.sleep(interval)


class MetricsServer:
    """Serves ``/metrics``, ``/healthz`` and ``/readyz`` from a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        snapshot: Callable[[], Snapshot],
        ready: Callable[[], bool],
        heartbeat: Heartbeat | None = None,
    ) -> None:
        registry = CollectorRegistry()
        registry.register(ProxyCollector(snapshot))
        self._metrics_app = make_wsgi_app(registry)
        self._ready = ready
        self._heartbeat = heartbeat
        server_class = _ThreadingWsgiServer6 if ":" in host else _ThreadingWsgiServer
        try:
            self._server = make_server(
                host, port, self._app, server_class, handler_class=_QuietHandler
            )
        except OSError as error:
            shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            raise ListenError(
                f"cannot listen on --metrics-listen {shown}: {error.strerror or error}; "
                "choose a local address and a free port, or 'off'"
            ) from error
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The bound port, useful when port 0 was requested."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start serving."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: WsgiEnviron, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            stalled = self._heartbeat.stalled_for() if self._heartbeat is not None else 0.0
            if stalled > 0:
                message = f"event loop has not run for {stalled:.0f} s\n".encode()
                return _plain(start_response, "503 Service Unavailable", message)
            return _plain(start_response, "200 OK", b"ok\n")
        if path == "/readyz":
            if self._ready():
                return _plain(start_response, "200 OK", b"ready\n")
            return _plain(
                start_response, "503 Service Unavailable", b"no ring with members loaded yet\n"
            )
        if path == "/metrics":
            result: Iterable[bytes] = self._metrics_app(environ, start_response)
            return result
        return _plain(
            start_response, "404 Not Found", b"not found; try /metrics, /healthz or /readyz\n"
        )


def _plain(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(
        status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return [body]
