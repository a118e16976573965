"""The request pipeline: authenticate, resolve, order accounts, attempt with failover."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson
from aiohttp import web

from omniroute.accounts.client_keys import hash_key
from omniroute.accounts.vault import redact
from omniroute.errors import BadRequest, ErrorKind, GatewayError, UpstreamError
from omniroute.extensions import (
    Attempt,
    CallNext,
    Middleware,
    Strategy,
    StrategyContext,
    UpstreamResponse,
)
from omniroute.formats import ir
from omniroute.formats.base import Format
from omniroute.ledger.ledger import Ledger
from omniroute.providers import Connection, Endpoint
from omniroute.routing.health import AccountHealth
from omniroute.routing.index import Resolved, RoutingIndex

T = TypeVar("T")

#: Called with the attempt and the upstream's answer; returns the result for the client or
#: raises :class:`UpstreamError` to fail over to the next account.
Accept = Callable[[Attempt, UpstreamResponse], Awaitable[T]]


@dataclass(slots=True)
class RequestContext:
    """One client request on its way through the gateway.

    ``client_model`` is the model as the client named it (translated answers carry it back).
    ``source`` is the format the client speaks; ``forwarded`` holds the client headers that
    format passes on to an upstream of the same format (``anthropic-beta``, ...). ``ir`` is the
    request in the intermediate representation, parsed once, and only when an attempt goes to
    an upstream of another format. ``combo`` names the combo the client's model resolved to,
    if any; ``connection``, ``model`` and ``attempts`` describe the latest attempt.
    """

    endpoint: Endpoint
    body: dict[str, Any]
    resolved: Resolved
    key_id: str | None
    source: Format
    stream: bool = False
    forwarded: dict[str, str] = field(default_factory=dict)
    ir: ir.Request | None = None
    client_model: str = ""
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    connection: Connection | None = None
    model: str | None = None
    attempts: int = 0
    combo: str | None = None

    def elapsed_ms(self) -> float:
        """Milliseconds since the request arrived."""
        return (time.perf_counter() - self.started) * 1000


def compose(middlewares: Sequence[Middleware], send: CallNext) -> CallNext:
    """Wrap ``send`` in the middlewares, the first registered (lowest order) outermost."""
    call = send
    for middleware in reversed(middlewares):
        call = _layer(middleware, call)
    return call


def _layer(middleware: Middleware, call_next: CallNext) -> CallNext:
    async def call(attempt: Attempt) -> UpstreamResponse:
        return await middleware.handler(attempt, call_next)

    return call


def client_key(request: web.Request) -> str | None:
    """The client key from any header or query parameter one of our four APIs' clients use."""
    auth = request.headers.get("Authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return (
        request.headers.get("x-api-key")
        or request.headers.get("x-goog-api-key")
        or request.query.get("key")
        or None
    )


def transport_error(exc: BaseException) -> UpstreamError:
    """Classify a failure to talk to the upstream at all."""
    if isinstance(exc, TimeoutError):
        return UpstreamError(ErrorKind.TIMEOUT, "upstream did not answer in time", status=504)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.InvalidURL):
        return UpstreamError(ErrorKind.UNREACHABLE, f"upstream unreachable: {exc}", status=502)
    return UpstreamError(ErrorKind.UPSTREAM, f"upstream connection failed: {exc}", status=502)


TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class Gateway:
    """Everything a request needs, built once per app; the routing index swaps on config change."""

    def __init__(
        self,
        *,
        index: RoutingIndex,
        session: aiohttp.ClientSession,
        ledger: Ledger,
        health: AccountHealth,
        account_strategy: Strategy,
        middlewares: Sequence[Middleware],
        formats: Mapping[str, Format],
        api_key_secret: str,
        require_api_key: bool,
    ) -> None:
        self.index = index
        self.session = session
        self.ledger = ledger
        self.health = health
        self.account_strategy = account_strategy
        self.require_api_key = require_api_key
        self.formats = formats
        self._api_key_secret = api_key_secret
        self._call = compose(middlewares, self._send)

    # -- authentication and resolution ------------------------------------------------------

    def authenticate(self, request: web.Request) -> str | None:
        """The client key's id; raises 401 when a key is required and missing or unknown."""
        key = client_key(request)
        key_id = None
        if key:
            # Looked up by keyed hash: the caller cannot steer the digest, so the lookup's
            # timing reveals nothing about stored keys.
            key_id = self.index.key_hashes.get(hash_key(self._api_key_secret, key))
        if key_id is None and self.require_api_key:
            message = (
                "invalid API key" if key else "missing API key: send 'Authorization: Bearer <key>'"
            )
            raise GatewayError(ErrorKind.AUTH, message, code="invalid_api_key")
        return key_id

    def accounts(self, resolved: Resolved) -> list[Connection]:
        """The provider's active connections in the order the account strategy chose."""
        provider = resolved.provider
        conns = self.index.active(provider.id)
        if not conns:
            raise GatewayError(
                ErrorKind.UNAVAILABLE,
                f"no active connection for provider '{provider.id}': add one with "
                f"'omniroute providers add {provider.id}' or POST /api/providers",
                code="no_active_connection",
            )
        ctx = StrategyContext(provider=provider.id, states=self.health.states)
        return self.account_strategy.order(conns, ctx)

    # -- attempts ---------------------------------------------------------------------------

    async def _send(self, attempt: Attempt) -> UpstreamResponse:
        resp = await self.session.post(
            attempt.url, data=orjson.dumps(attempt.body), headers=attempt.headers
        )
        return UpstreamResponse(resp.status, resp.headers, live=resp)

    def _attempt(self, ctx: RequestContext, conn: Connection) -> Attempt:
        provider = ctx.resolved.provider
        model = ctx.resolved.model or provider.default_model(conn, ctx.endpoint)
        if model is None:
            raise BadRequest(
                f"'model' names only the provider '{provider.prefix}', which has no default "
                f"model; use '{provider.prefix}/<model>'",
                param="model",
            )
        target = self.formats[provider.format]
        headers = provider.headers(conn)
        if target is ctx.source:
            body = target.passthrough_request(
                ctx.body, model, stream_usage=ctx.stream and provider.stream_usage
            )
            headers.update(ctx.forwarded)
        else:
            body = self._translated_body(ctx, target, model)
        return Attempt(
            provider=provider,
            connection=conn,
            endpoint=ctx.endpoint,
            url=provider.url(conn, ctx.endpoint, model=model, stream=ctx.stream),
            headers=headers,
            body=body,
            stream=ctx.stream,
            request_id=ctx.request_id,
            client_key_id=ctx.key_id,
            model=model,
        )

    def _translated_body(self, ctx: RequestContext, target: Format, model: str) -> dict[str, Any]:
        """The request rendered in the upstream's format (parsed into the IR once)."""
        if not (target.translates and ctx.source.translates):
            raise GatewayError(
                ErrorKind.BAD_REQUEST,
                f"provider '{ctx.resolved.provider.id}' speaks the '{target.id}' format, and "
                f"no translation from '{ctx.source.id}' is installed",
                code="translation_unavailable",
            )
        if ctx.ir is None:
            refused = ctx.source.untranslatable(ctx.body)
            if refused is not None:
                refused.message += (
                    f" (the model routes to provider '{ctx.resolved.provider.id}', which speaks "
                    f"the '{target.id}' format)"
                )
                raise refused
            ctx.ir = ctx.source.parse_request(ctx.body)
        ctx.ir.model = model
        ctx.ir.stream = ctx.stream
        return target.render_request(ctx.ir)

    async def forward(self, ctx: RequestContext, accept: Accept[T]) -> T:
        """Try the provider's accounts in order until one gives a usable answer.

        Failures another account might not share (auth, rate limit, quota, 5xx, timeout,
        connect error) rest that account and move on; others end the request at once.
        """
        last: GatewayError | None = None
        for conn in self.accounts(ctx.resolved):
            attempt = self._attempt(ctx, conn)
            ctx.connection, ctx.model, ctx.attempts = conn, attempt.model, ctx.attempts + 1
            self.health.used(conn.id)
            try:
                resp = await self._call(attempt)
            except TRANSPORT_ERRORS as exc:
                err: GatewayError = transport_error(exc)
            else:
                try:
                    result = await accept(attempt, resp)
                except UpstreamError as exc:
                    resp.close()
                    err = exc
                except TRANSPORT_ERRORS as exc:
                    resp.close()
                    err = transport_error(exc)
                except BaseException:
                    resp.close()
                    raise
                else:
                    self.health.succeeded(conn.id)
                    return result
            err.message = redact(err.message, conn.api_key)
            if not err.failover:
                raise err
            self.health.failed(conn.id, err)
            last = err
        assert last is not None
        if ctx.attempts > 1:
            last.message = (
                f"all {ctx.attempts} connections of provider '{ctx.resolved.provider.id}' "
                f"failed; last error: {last.message}"
            )
        raise last
