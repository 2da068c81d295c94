"""Several worker processes sharing the UDP port, and the supervisor that feeds them rings.

Python runs one thread of bytecode at a time, so throughput grows with cores
only across processes. Each worker binds the port with SO_REUSEPORT and the
kernel spreads datagrams over them. The supervisor alone follows the
membership source and sends every ring document to every worker over a pipe.
So all workers switch to a new ring within one pipe delivery of each other,
or at the same instant when the ring has an ``effectiveAt``. Workers send
their counters back once a second; the supervisor sums them for ``/metrics``
and restarts a worker that dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

from statsd_proxy.config import ProxyConfig
from statsd_proxy.ingress import bind_tcp, bind_udp
from statsd_proxy.logs import configure_logging
from statsd_proxy.metrics import Heartbeat, MetricsServer
from statsd_proxy.ringdoc import RingDocument, RingFormatError, dump_ring, parse_ring
from statsd_proxy.server import ProxyServer, summary, wait_for_signal
from statsd_proxy.sources import RingSink, make_source
from statsd_proxy.stats import ProxyStats, merge_snapshots

log = structlog.get_logger("statsd_proxy.workers")

STATS_INTERVAL = 1.0
# How long the supervisor waits for workers to flush and exit after SIGTERM.
STOP_GRACE = 10.0
_RESTART_DELAY = 1.0
# Time given to the pipes to deliver the workers' final counters.
STATS_DRAIN = 0.1


def supervise(config: ProxyConfig) -> int:
    """Run ``config.workers`` worker processes until SIGTERM; return the exit status."""
    from statsd_proxy.app import run_event_loop

    return run_event_loop(Supervisor(config).run())


class _Worker:
    """The supervisor's handle on one worker process."""

    def __init__(self, index: int, process: BaseProcess, connection: Connection) -> None:
        self.index = index
        self.process = process
        self.connection = connection
        self.snapshot: dict[str, Any] | None = None


class Supervisor:
    """Starts the workers, forwards rings to them and serves their summed metrics."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[int, _Worker] = {}
        self._retired = ProxyStats().snapshot()
        self._stats = ProxyStats()
        self._stats.unready_policy = config.unready_policy
        self._document: RingDocument | None = None
        self._stopping = False
        self._heartbeat = Heartbeat()

    @property
    def stats(self) -> ProxyStats:
        """The supervisor's own counters: discovery errors and member readiness."""
        return self._stats

    async def submit(self, document: RingDocument) -> None:
        """Send ``document`` to every worker."""
        if not document.members:
            self.report_source_failure("the new ring has no members")
            return
        self._document = document
        text = dump_ring(document)
        for worker in list(self._workers.values()):
            self._send(worker, ("ring", text))

    def report_source_failure(self, reason: str) -> None:
        """Tell every worker to keep its ring and mark it stale."""
        for worker in list(self._workers.values()):
            self._send(worker, ("stale", reason))

    def snapshot(self) -> dict[str, Any]:
        """Return the workers' counters summed, with the supervisor's own."""
        live = [w.snapshot for w in self._workers.values() if w.snapshot is not None]
        return merge_snapshots([self._retired, *live], self._stats.snapshot())

    def ready(self) -> bool:
        """Return whether every worker routes with a ring that has members."""
        snapshots = [w.snapshot for w in self._workers.values()]
        return len(snapshots) == self.config.workers and all(
            s is not None and s["ring_members"] > 0 for s in snapshots
        )

    async def run(self) -> int:
        """Start workers, follow the source, and stop everything on SIGTERM."""
        self._check_listen()
        metrics = self._start_metrics()
        for index in range(self.config.workers):
            self._start_worker(index)
        loop = asyncio.get_running_loop()
        tasks = [
            loop.create_task(self._follow_source(), name="ring-source"),
            loop.create_task(self._watch_workers(), name="worker-watcher"),
            loop.create_task(self._heartbeat.run(), name="heartbeat"),
        ]
        try:
            await wait_for_signal()
        finally:
            self._stopping = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            status = await self._stop_workers()
            if metrics is not None:
                metrics.stop()
        log.info("stopped", **summary(self.snapshot()))
        return status

    def _check_listen(self) -> None:
        """Bind the listen address once, so a bad one fails here and not in every worker."""
        listen = self.config.listen
        sockets = [bind_udp(listen.host, listen.port, 0, reuse_port=True)]
        try:
            if self.config.tcp:
                port = sockets[0].getsockname()[1]
                sockets.append(bind_tcp(listen.host, port, reuse_port=True))
        finally:
            for sock in sockets:
                sock.close()

    def _start_metrics(self) -> MetricsServer | None:
        listen = self.config.metrics_listen
        if listen is None:
            return None
        metrics = MetricsServer(
            listen.host, listen.port, self.snapshot, self.ready, self._heartbeat
        )
        metrics.start()
        log.info("metrics_listening", address=f"{listen.host}:{metrics.port}")
        return metrics

    def _start_worker(self, index: int) -> None:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(
            target=worker_main,
            args=(self.config, child_end, index),
            name=f"statsd-proxy-worker-{index}",
            daemon=True,
        )
        process.start()
        child_end.close()
        worker = _Worker(index, process, parent_end)
        self._workers[index] = worker
        asyncio.get_running_loop().add_reader(parent_end.fileno(), self._receive, worker)
        if self._document is not None:
            self._send(worker, ("ring", dump_ring(self._document)))
        log.info("worker_started", worker=index, pid=process.pid)

    def _receive(self, worker: _Worker) -> None:
        try:
            kind, payload = worker.connection.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(worker.connection.fileno())
            return
        if kind == "stats":
            worker.snapshot = payload

    def _send(self, worker: _Worker, message: tuple[str, str]) -> None:
        try:
            worker.connection.send(message)
        except OSError as error:
            log.warning("worker_unreachable", worker=worker.index, error=str(error))

    async def _follow_source(self) -> None:
        sink: RingSink = self
        try:
            await make_source(self.config).run(sink)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._stats.count_discovery_error("source_crashed")
            self.report_source_failure(f"membership source failed: {error!r}")
            log.exception("source_failed")

    async def _watch_workers(self) -> None:
        while not self._stopping:
            await asyncio.sleep(_RESTART_DELAY)
            for worker in list(self._workers.values()):
                if worker.process.is_alive() or self._stopping:
                    continue
                log.error("worker_died", worker=worker.index, exit_code=worker.process.exitcode)
                self._retire(worker)
                self._start_worker(worker.index)

    def _retire(self, worker: _Worker) -> None:
        """Fold a dead worker's last counters into the totals, so counters never go back."""
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(worker.connection.fileno())
        if worker.snapshot is not None:
            self._retired = merge_snapshots([self._retired, worker.snapshot], None)
        worker.connection.close()
        worker.process.join(timeout=0)

    async def _stop_workers(self) -> int:
        for worker in self._workers.values():
            if worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        status = 0
        for worker in self._workers.values():
            remaining = max(0.0, deadline - time.monotonic())
            # The event loop keeps reading the pipe meanwhile, so the final
            # counters a worker sends on its way out are not lost.
            await asyncio.to_thread(worker.process.join, remaining)
            if worker.process.is_alive():
                log.error("worker_killed", worker=worker.index, grace_seconds=STOP_GRACE)
                worker.process.kill()
                status = 1
            worker.process.join(timeout=1)
            if worker.process.exitcode not in (0, None):
                status = 1
        await asyncio.sleep(STATS_DRAIN)
        return status


def worker_main(config: ProxyConfig, connection: Connection, index: int) -> None:
    """Entry point of a worker process."""
    # A process group of its own keeps a terminal's Ctrl-C or a signal to
    # the supervisor's group from reaching the worker as well: the
    # supervisor forwards exactly one SIGTERM, and a second would force an
    # exit without flushing.
    os.setpgrp()
    configure_logging(config.log_format, config.log_level, worker=index)
    from statsd_proxy.app import run_event_loop

    raise SystemExit(run_event_loop(_serve_worker(config, connection)))


class _PipeSource:
    """Takes ring documents from the supervisor's pipe."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def run(self, sink: RingSink) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue(maxsize=16)

        def readable() -> None:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                loop.remove_reader(self._connection.fileno())
                return
            if queue.full():
                # Only the newest ring matters; an older one waiting is dropped.
                queue.get_nowait()
            queue.put_nowait(message)

        loop.add_reader(self._connection.fileno(), readable)
        try:
            while True:
                kind, payload = await queue.get()
                try:
                    if kind == "ring":
                        await sink.submit(parse_ring(payload))
                    else:
                        sink.report_source_failure(payload)
                except (OSError, RingFormatError) as error:
                    # The next ring from the supervisor may still apply.
                    sink.stats.count_discovery_error("apply")
                    log.error("ring_apply_failed", error=str(error))
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(self._connection.fileno())


async def _serve_worker(config: ProxyConfig, connection: Connection) -> int:
    server = ProxyServer(config, source=_PipeSource(connection))
    await server.start()
    loop = asyncio.get_running_loop()
    reporter = loop.create_task(_report_stats(server, connection), name="stats-reporter")
    try:
        await wait_for_signal()
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await server.stop()
        with contextlib.suppress(OSError):
            connection.send(("stats", server.stats.snapshot()))
    return 0


async def _report_stats(server: ProxyServer, connection: Connection) -> None:
    """Send counters to the supervisor every second; stop the worker if the supervisor died."""
    supervisor = os.getppid()
    while True:
        with contextlib.suppress(OSError):
            connection.send(("stats", server.stats.snapshot()))
        await asyncio.sleep(STATS_INTERVAL)
        if os.getppid() != supervisor:
            # Killed without a chance to stop us: release the port the
            # same way a SIGTERM would, with batches flushed.
            log.error("supervisor_gone", supervisor_pid=supervisor)
            os.kill(os.getpid(), signal.SIGTERM)
            return
