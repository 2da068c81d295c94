"""kopf handlers: thin wrappers that run one reconciliation pass and report it.

`build_registry` registers every handler into a fresh kopf registry, so an
operator process or a test can run with its own options. Creation, updates,
resumption after a restart and a periodic timer all run the same
level-triggered pass under one lock per StatsdCluster. While a reshard waits
for pods or for a drain, the change handlers raise `kopf.TemporaryError`, so
kopf calls them again after the delay. The timer only reports. It picks up
changes that no event on the StatsdCluster announces, such as a pod's new IP.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import kopf
from kubernetes_asyncio import client as k8s

from statsd_operator import names
from statsd_operator.connection import connection_info, load_configuration
from statsd_operator.kube import KubeClient
from statsd_operator.options import Options
from statsd_operator.planner import Converged, Wait
from statsd_operator.reconcile import EventSink, reconcile
from statsd_operator.spec import SpecError
from statsd_operator.status import build_invalid_status, progressing_message

ConfigurationLoader = Callable[[str | None], Awaitable[Any]]
Logger = logging.Logger | logging.LoggerAdapter[Any]
RESOURCE = (names.GROUP, names.VERSION, names.PLURAL)
# Delay before a pass runs again after an API error or after a pass that
# stopped with steps still to apply.
RETRY_DELAY = timedelta(seconds=2)
# How long the operator's shutdown waits for running passes before it closes
# their API client.
SHUTDOWN_TIMEOUT = 5.0


class PassGate:
    """Counts running reconciliation passes and lets none start once closed."""

    def __init__(self) -> None:
        self._running = 0
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> bool:
        """Register a pass; return False (start nothing) once the gate is closed."""
        if self._closed:
            return False
        self._running += 1
        self._idle.clear()
        return True

    def exit(self) -> None:
        """Unregister a pass that `enter` admitted."""
        self._running -= 1
        if self._running == 0:
            self._idle.set()

    def close(self) -> None:
        """Admit no more passes."""
        self._closed = True

    async def wait_idle(self) -> None:
        """Wait until no admitted pass runs."""
        await self._idle.wait()


def build_registry(
    options: Options,
    *,
    kubeconfig: str | None = None,
    loader: ConfigurationLoader = load_configuration,
) -> kopf.OperatorRegistry:
    """Return a kopf registry with the operator's handlers bound to ``options``."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(id="connect", registry=registry)
    async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        configure_settings(settings)
        memo.configuration = await loader(kubeconfig)
        memo.client = KubeClient(k8s.ApiClient(memo.configuration))
        # Set before any StatsdCluster is seen, so every per-object memo shares it.
        memo.passes = PassGate()

    @kopf.on.cleanup(id="disconnect", registry=registry)
    async def stop(memo: kopf.Memo, logger: Logger, **_: Any) -> None:
        if "passes" in memo:
            memo.passes.close()
            try:
                async with asyncio.timeout(SHUTDOWN_TIMEOUT):
                    await memo.passes.wait_idle()
            except TimeoutError:
                logger.warning("Closing the API client while a reconciliation pass still runs")
        if "client" in memo:
            await memo.client.close()

    @kopf.on.login(id="login", registry=registry)
    async def login(memo: kopf.Memo, **_: Any) -> kopf.ConnectionInfo:
        return await connection_info(memo.configuration)

    backoff = RETRY_DELAY.total_seconds()

    @kopf.on.resume(*RESOURCE, id="reconcile", backoff=backoff, registry=registry)
    @kopf.on.create(*RESOURCE, id="reconcile", backoff=backoff, registry=registry)
    @kopf.on.update(*RESOURCE, id="reconcile", backoff=backoff, registry=registry)
    async def reconcile_cluster(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: Logger, **_: Any
    ) -> None:
        await run_pass(body, patch, memo, logger, options, retry=True)

    interval = options.resync_interval.total_seconds()

    @kopf.timer(
        *RESOURCE,
        id="resync",
        interval=interval,
        initial_delay=interval,
        backoff=backoff,
        registry=registry,
    )
    async def resync_cluster(
        body: kopf.Body,
        patch: kopf.Patch,
        memo: kopf.Memo,
        logger: Logger,
        **kwargs: Any,
    ) -> None:
        stopped: kopf.DaemonStopped | None = kwargs.get("stopped")
        await run_pass(body, patch, memo, logger, options, retry=False, stopped=stopped)

    return registry


def configure_settings(settings: kopf.OperatorSettings) -> None:
    """Keep kopf's own bookkeeping under the statsdproxy.io prefix."""
    settings.persistence.finalizer = f"{names.GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.INFO
    # The namespaces come from the command line and the chart installs the CRD
    # before the operator starts, so kopf needs no access to Namespaces and CRDs.
    settings.scanning.disabled = True
    # A deleted StatsdCluster keeps its finalizer until its resync timer has
    # exited. A timer in the middle of a pass gets that long to finish it, and
    # kopf then checks again this often (60 s by default).
    settings.background.instant_exit_timeout = 0.5
    settings.background.cancellation_polling = 1.0


async def run_pass(
    body: kopf.Body,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: Logger,
    options: Options,
    *,
    retry: bool,
    stopped: kopf.DaemonStopped | None = None,
) -> None:
    """Run one reconciliation pass and write its status.

    With ``retry`` an invalid spec raises `kopf.PermanentError` and a pass
    that has to wait raises `kopf.TemporaryError` with the wait's delay. A
    timer's pass is skipped once kopf stops the timer.
    """
    if body["metadata"].get("deletionTimestamp"):
        return
    lock: asyncio.Lock = memo.setdefault("lock", asyncio.Lock())
    passes: PassGate = memo.passes
    async with lock:
        if stopped is not None and stopped:
            return
        if not passes.enter():
            return
        try:
            result = await reconcile(memo.client, body, options, _event_sink(body), logger)
        except SpecError as error:
            _report_invalid(body, patch, error, logger, retry=retry)
            return
        except k8s.ApiException as error:
            rejection = rejection_message(error)
            if rejection is None:
                raise _api_retry(error) from error
            invalid = SpecError("spec", f"the API server rejected a child object: {rejection}")
            _report_invalid(body, patch, invalid, logger, retry=retry)
            return
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _api_retry(error) from error
        finally:
            passes.exit()
    patch["status"] = result.status
    step = result.step
    if not retry or isinstance(step, Converged):
        return
    if isinstance(step, Wait):
        delay = max(step.delay.total_seconds(), 0.1)
        raise kopf.TemporaryError(_sentence(step.message), delay=delay)
    raise kopf.TemporaryError(
        f"Step {step.reason} applied; checking again", delay=RETRY_DELAY.total_seconds()
    )


def _report_invalid(
    body: kopf.Body, patch: kopf.Patch, error: SpecError, logger: Logger, *, retry: bool
) -> None:
    """Write an invalid spec into the status; raise `kopf.PermanentError` with ``retry``.

    A change handler also posts a Warning Event, and kopf logs the error. The
    timer only logs, and only when the status did not report it yet.
    """
    message = f"Invalid spec: {error}"
    previous: Mapping[str, Any] = body.get("status") or {}
    generation = body["metadata"].get("generation")
    patch["status"] = build_invalid_status(
        message,
        previous,
        generation if isinstance(generation, int) else None,
        datetime.now(UTC),
    )
    if retry:
        kopf.warn(body, reason="InvalidSpec", message=message)
        raise kopf.PermanentError(message) from error
    if progressing_message(previous) != message:
        logger.warning("%s; fix the spec to resume", message)


def rejection_message(error: k8s.ApiException) -> str | None:
    """Return the API server's message when it rejected an object as invalid (400 or 422).

    Retrying cannot fix such a rejection, because it comes from the spec that
    the object was built from. Any other status returns None.
    """
    if error.status not in (400, 422):
        return None
    try:
        details = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        details = {}
    message = details.get("message") if isinstance(details, dict) else None
    return str(message or error.reason or f"HTTP {error.status}")


def _api_retry(error: BaseException) -> kopf.TemporaryError:
    message = f"Kubernetes API call failed, retrying: {_describe(error)}"
    return kopf.TemporaryError(message, delay=RETRY_DELAY.total_seconds())


def _event_sink(body: kopf.Body) -> EventSink:
    def emit(event_type: str, reason: str, message: str) -> None:
        kopf.event(body, type=event_type, reason=reason, message=message)

    return emit


def _describe(error: BaseException) -> str:
    if isinstance(error, k8s.ApiException):
        return f"HTTP {error.status} {error.reason}"
    return str(error) or type(error).__name__


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
