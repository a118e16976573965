"""The scaffolding shared by the fake upstreams in :mod:`omniroute.testing`.

:class:`FakeUpstream` owns what every fake does the same way: the request log
(:attr:`~FakeUpstream.requests`, :attr:`~FakeUpstream.last_request`), the queue of scripted
replies (:meth:`~FakeUpstream.enqueue`, :attr:`~FakeUpstream.pending`,
:meth:`~FakeUpstream.reset`), the aiohttp application (:attr:`~FakeUpstream.app`,
:meth:`~FakeUpstream.make_app`), :meth:`~FakeUpstream.serve` and the middleware that records
each request, runs the auth check and renders the fake's API errors. A subclass supplies its
routes, its auth check, its error type and how an error is rendered, and the base path of the
URL :meth:`~FakeUpstream.serve` yields.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

__all__ = ["CLOSING", "FakeUpstream", "RecordedRequest", "loads_or_none"]

CLOSING = web.AppKey("omniroute_fake_upstream_closing", asyncio.Event)
"""Set when the application shuts down, so hangs and slow streams stop early."""

ReplyT = TypeVar("ReplyT")
ErrorT = TypeVar("ErrorT", bound=Exception)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, recorded before any validation or auth check.

    ``headers`` is a case-insensitive multidict; ``json`` is the parsed body or ``None`` when
    the body is empty or not valid JSON (``body`` keeps the raw bytes either way).
    """

    method: str
    path: str
    headers: CIMultiDict[str]
    json: Any
    body: bytes = b""
    query: Mapping[str, str] = field(default_factory=dict)


class FakeUpstream(ABC, Generic[ReplyT, ErrorT]):
    """Base class of the fake upstreams: request log, reply queue, app and server.

    ``ReplyT`` is the fake's scripted reply type and ``ErrorT`` its API error exception.
    Subclasses set :attr:`error_type` (and :attr:`base_path` / :attr:`auth_prefixes` when the
    defaults do not fit) and implement :meth:`_setup_app`, :meth:`_check_auth` and
    :meth:`_error_response`; handlers take their next scripted reply with :meth:`_next_reply`
    and find the shutdown event under :data:`CLOSING` in ``request.app``.
    """

    error_type: type[ErrorT]
    """The API error exception the middleware turns into an error response."""

    base_path: ClassVar[str] = ""
    """Appended to ``http://host:port`` in the URL :meth:`serve` yields (e.g. ``"/v1"``)."""

    auth_prefixes: ClassVar[tuple[str, ...]] = ("/v1/",)
    """Requests whose path starts with one of these go through :meth:`_check_auth`."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: deque[ReplyT] = deque()
        self._app: web.Application | None = None

    @property
    def app(self) -> web.Application:
        """The aiohttp application (created on first access; one app per server run)."""
        if self._app is None:
            self._app = self.make_app()
        return self._app

    @property
    def last_request(self) -> RecordedRequest | None:
        """The most recent recorded request, if any."""
        return self.requests[-1] if self.requests else None

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        return len(self._replies)

    def enqueue(self, *replies: ReplyT) -> None:
        """Queue replies; each is consumed by the next valid request that takes a scripted reply
        (requests rejected by auth or validation leave the queue untouched)."""
        self._replies.extend(replies)

    def reset(self) -> None:
        """Forget recorded requests and drop queued replies.

        Other state the fake keeps (issued signatures, stored responses) stays valid.
        """
        self.requests.clear()
        self._replies.clear()

    def make_app(self) -> web.Application:
        """Build a fresh application sharing this fake's queue, state and request log."""
        app = web.Application(middlewares=[self._middleware])
        app[CLOSING] = asyncio.Event()
        app.on_shutdown.append(_signal_closing)
        self._setup_app(app)
        return app

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Run the fake on ``host`` (a free port by default) and yield its base URL:
        ``http://host:port`` followed by :attr:`base_path` (``/v1`` for the OpenAI-style fakes,
        nothing for Anthropic and Gemini, whose SDKs append the version themselves)."""
        runner = web.AppRunner(self.make_app(), handler_cancellation=True, shutdown_timeout=5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_port = runner.addresses[0][1]
            yield f"http://{host}:{bound_port}{self.base_path}"
        finally:
            await runner.cleanup()

    @abstractmethod
    def _setup_app(self, app: web.Application) -> None:
        """Add the fake's routes (ending with its catch-all) and response hooks to ``app``."""

    @abstractmethod
    def _check_auth(self, request: web.Request) -> None:
        """Raise :attr:`error_type` when ``request`` (under :attr:`auth_prefixes`) is refused."""

    @abstractmethod
    def _error_response(self, request: web.Request, err: ErrorT) -> web.StreamResponse:
        """Render ``err``, raised by the auth check or a handler, as the HTTP response."""

    def _next_reply(self) -> ReplyT | None:
        """Pop the next scripted reply, or ``None`` when the queue is empty."""
        return self._replies.popleft() if self._replies else None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                headers=CIMultiDict(request.headers),
                json=loads_or_none(raw),
                body=raw,
                query=dict(request.query),
            )
        )
        try:
            if request.path.startswith(self.auth_prefixes):
                self._check_auth(request)
            return await handler(request)
        except self.error_type as err:
            return self._error_response(request, err)


def loads_or_none(raw: bytes) -> Any:
    """``raw`` parsed as JSON, or ``None`` when it is empty or not valid JSON."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def _signal_closing(app: web.Application) -> None:
    app[CLOSING].set()
