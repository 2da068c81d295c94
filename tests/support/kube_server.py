"""The HTTP server of the Kubernetes API stand-in, on its own event loop in its own thread.

The server runs apart from the test's event loop, so nothing in the test can cancel or stall
it. For example, kopf 1.45 stops by waiting up to 5 s for every task created after its start
and then cancelling them, which would include the server's connection tasks on a shared loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import socket
import threading
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # kmock 0.8 exports no public name for its parsed request

from tests.support.kube_http import ApiRoutes, is_true
from tests.support.kube_resources import KubeError
from tests.support.kube_store import ObjectStore

logger = logging.getLogger(__name__)
T = TypeVar("T")
CALL_SECONDS = 10.0  # the max wait for one call into the server thread


@attrs.define(kw_only=True)
class StandInHandler(kmock.RawHandler):
    """The kmock handler of the stand-in: reactions added by tests first, then the API routes."""

    routes: ApiRoutes | None = None
    server_errors: list[str] = attrs.field(factory=list)

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        request = await _parse_request(raw_request, len(self._requests))
        self._requests.append(request)
        try:
            return await self._handle(request)
        except Exception as error:  # a stand-in bug: report it to the client and to the test
            self.server_errors.append(traceback.format_exc())
            logger.exception("the API stand-in failed on %s %s", request.method, request.url)
            status = KubeError(500, "InternalError", f"stand-in failure: {error!r}").status()
            return aiohttp.web.json_response(status, status=500)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            return await super()._handle(request)  # reactions added through KubeApi.mock
        except NotImplementedError:  # kmock raises it when no reaction matches
            assert self.routes is not None
            return await self.routes.serve(request)


async def _parse_request(raw_request: aiohttp.web.BaseRequest, index: int) -> rendering.Request:
    await raw_request.read()
    try:
        request = await rendering.Request._parse(raw_request, id=index)
    except ValueError:  # kmock 0.8 cannot split some valid paths, such as /api/v1/namespaces
        text = await raw_request.text()
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        request = rendering.Request(
            id=index,
            raw_request=raw_request,
            url=raw_request.url,
            method=raw_request.method,
            params=dict(raw_request.query),
            headers=dict(raw_request.headers),
            body=await raw_request.read(),
            text=text,
            data=data,
        )
    if is_true(request.params.get("watch")) and request.action != kmock.action.WATCH:
        request = attrs.evolve(request, action=kmock.action.WATCH)  # kmock 0.8 matches only "true"
    return request


async def _cancel_other_tasks() -> None:
    """Cancel and reap every task of the running loop except the current one."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class ServerThread:
    """Owns the stand-in's store, routes and HTTP listener, and the thread that runs them.

    Call :meth:`run` to execute a function in the server thread, where all store access
    must happen, because the store's watch notifications are not thread-safe.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port  # 0 until the first serve() picks a free port
        self.store = ObjectStore()
        self.routes = ApiRoutes(self.store, "")
        self.handler = StandInHandler(routes=self.routes)
        self._runner: aiohttp.web.ServerRunner | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kube-api-stand-in", daemon=True
        )

    @property
    def serving(self) -> bool:
        return self._runner is not None

    def start_thread(self) -> None:
        self._thread.start()

    def stop_thread(self) -> None:
        """Stop serving if needed, then end the thread and close its loop."""
        if self.serving:
            self.run_coroutine(self.unserve())
        self.run_coroutine(_cancel_other_tasks())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CALL_SECONDS)
        self._loop.close()

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function(*args)`` in the server thread and return its result or raise."""
        if threading.current_thread() is self._thread:
            return function(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as error:  # handed over to the calling thread
                future.set_exception(error)

        self._loop.call_soon_threadsafe(call)
        return future.result(CALL_SECONDS)

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server thread, blocking the calling thread until it ends."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CALL_SECONDS)

    async def await_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server thread without blocking the caller's event loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return await asyncio.wait_for(asyncio.wrap_future(future), CALL_SECONDS)

    async def serve(self) -> None:
        """Listen on the port: a free one at the first call, the same one afterwards."""
        if self._runner is not None:
            raise RuntimeError(f"the stand-in already serves port {self.port}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.routes.address = f"{self.host}:{self.port}"
        server = aiohttp.web.Server(self.handler, handler_cancellation=True)
        runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
        await runner.setup()
        await aiohttp.web.SockSite(runner, sock).start()
        self._runner = runner

    async def unserve(self) -> None:
        """Close the port and every connection; open watches end first."""
        if self._runner is None:
            raise RuntimeError("the stand-in is not serving")
        runner, self._runner = self._runner, None
        self.routes.close_watches()
        await runner.cleanup()
