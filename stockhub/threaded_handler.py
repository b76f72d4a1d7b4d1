"""How the web process serves a request: synchronous views on a fixed set of threads that keep their database
connection, async views (the pages' event stream) on Django's ASGI handler. stockhub/asgi.py chooses per path.

Why not Django's ASGI handler for everything: it runs each request's synchronous code on a thread of its own
and keeps the request's database connection in that request's context, so a connection kept for reuse is
never reused (PostgreSQL ran out of them in bench/api_load.py), and with none kept every request paid for a
new one (~3 ms of CPU here plus a PostgreSQL backend started and stopped). On a fixed set of threads, as a
WSGI server runs Django, each thread keeps one connection (DATABASE_CONN_MAX_AGE_SECONDS, health-checked),
so a process holds at most STOCKHUB_WEB_THREADS of them and requests beyond that wait for a free thread
instead of opening more. It also skips the thread hops of running sync middleware from async code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import connections
from django.http import FileResponse, HttpResponseBase
from django.urls import Resolver404, resolve, set_script_prefix

logger = logging.getLogger(__name__)

Send = Callable[[dict], Awaitable[None]]


class ThreadedHandler(ASGIHandler):
    """Django's synchronous handler (middleware and views as under WSGI) on `threads` long-lived threads,
    reading requests as Django's ASGI handler does (same request object, same headers)."""

    def __init__(self, *, threads: int) -> None:
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="web")

    async def __call__(self, scope: dict, receive, send: Send) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.executor, self._respond, scope, body_file, send, loop)
            if response is not None:  # a plain response: its body is ready, the loop sends it
                await self.send_response(response, send)
        finally:
            body_file.close()

    def _respond(self, scope: dict, body_file, send: Send, loop) -> HttpResponseBase | None:
        """On a pool thread: the whole request, as WSGIHandler runs it. Closing the response sends
        request_finished on this thread, where Django decides whether to keep this thread's connection."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        try:
            if not response.streaming:
                return response
            # A streaming response is read on this thread (it may use this thread's connection).
            self._send_from_thread(self._start_message(response), send, loop)
            for part in response:
                for chunk, _ in self.chunk_bytes(part):
                    self._send_from_thread(
                        {"type": "http.response.body", "body": chunk, "more_body": True}, send, loop
                    )
            self._send_from_thread({"type": "http.response.body"}, send, loop)
            return None
        finally:
            response.close()

    @staticmethod
    def _send_from_thread(message: dict, send: Send, loop) -> None:
        asyncio.run_coroutine_threadsafe(send(message), loop).result()

    @staticmethod
    def _start_message(response: HttpResponseBase) -> dict:
        headers = [
            (str(name).encode("ascii"), str(value).encode("latin1")) for name, value in response.items()
        ]
        headers += [
            (b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values()
        ]
        return {"type": "http.response.start", "status": response.status_code, "headers": headers}


class ConnectionClosingASGIHandler(ASGIHandler):
    """Django's ASGI handler for async views. The database connection such a request opens lives in that
    request's context, where no later request finds it: it is closed as soon as the view has answered, so an
    open event stream holds no connection while it streams."""

    async def run_get_response(self, request):
        try:
            return await super().run_get_response(request)
        finally:
            await sync_to_async(connections.close_all)()


@lru_cache(maxsize=4096)
def is_async_view(path_info: str) -> bool:
    """Whether the URL `path_info` resolves to an async view (unknown paths are not: their 404 is sync)."""
    try:
        match = resolve(path_info)
    except Resolver404:
        return False
    return bool(getattr(match.func, "view_is_async", False) or iscoroutinefunction(match.func))


def path_info(scope: dict) -> str:
    """The path Django resolves: the scope's path without the script prefix (as ASGIRequest computes it)."""
    return scope["path"].removeprefix(get_script_prefix(scope))
