"""The request pipeline: authenticate, resolve, order accounts, attempt with failover."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson
from aiohttp import web

from omniroute.accounts.client_keys import KeyInfo, hash_key
from omniroute.accounts.vault import redact
from omniroute.errors import BadRequest, ErrorKind, GatewayError, UpstreamError
from omniroute.extensions import (
    Attempt,
    CallNext,
    Middleware,
    UpstreamResponse,
)
from omniroute.formats import ir
from omniroute.formats.base import Format
from omniroute.gateway.failover import (
    TargetExhausted,
    UnservableTarget,
    exhausted,
    next_target_or_raise,
)
from omniroute.gateway.key_limits import KeyRateLimiter, check_blocked, check_rate, check_scope
from omniroute.gateway.proxies import PROXY_ERRORS, ProxyPool, proxy_failure
from omniroute.ledger.ledger import Ledger
from omniroute.providers import Connection, Endpoint
from omniroute.routing.index import Resolved, RoutingIndex
from omniroute.routing.plan import Plan, Planner
from omniroute.routing.resilience import Resilience

T = TypeVar("T")

#: Called with the attempt and the upstream's answer; returns the result for the client or
#: raises :class:`UpstreamError` to fail over to the next account.
Accept = Callable[[Attempt, UpstreamResponse], Awaitable[T]]


_REQUEST_ID_PREFIX = os.urandom(8).hex()
_REQUEST_IDS = itertools.count(1)


def next_request_id() -> str:
    """A new request id, 32 hex digits: a random prefix per process and a counter, unique
    across the processes sharing a database (and cheaper than reading the OS's random
    source for every request, as ``uuid4`` does)."""
    return f"{_REQUEST_ID_PREFIX}{next(_REQUEST_IDS):016x}"


@dataclass(slots=True)
class RequestContext:
    """One client request on its way through the gateway.

    ``client_model`` is the model as the client named it (translated answers carry it back).
    ``source`` is the format the client speaks; ``forwarded`` holds the client headers that
    format passes on to an upstream of the same format (``anthropic-beta``, ...). ``ir`` is the
    request in the intermediate representation, parsed once, and only when an attempt goes to
    an upstream of another format. ``plan`` holds the targets to try in order (none: just
    ``resolved``); while forwarding, ``resolved`` is the target being tried, so after it the
    target that answered. ``combo`` names the combo the client's model resolved to, if any;
    ``connection``, ``model`` and ``attempts`` describe the latest attempt, ``failed`` counts
    the attempts that failed before the answer.
    """

    endpoint: Endpoint
    body: dict[str, Any]
    resolved: Resolved
    key_id: str | None
    source: Format
    stream: bool = False
    forwarded: dict[str, str] = field(default_factory=dict)
    client_headers: Mapping[str, str] = field(default_factory=dict)
    ir: ir.Request | None = None
    client_model: str = ""
    request_id: str = field(default_factory=lambda: next_request_id())
    started: float = field(default_factory=time.perf_counter)
    connection: Connection | None = None
    model: str | None = None
    attempts: int = 0
    combo: str | None = None
    plan: Plan | None = None
    failed: int = 0

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
        resilience: Resilience,
        middlewares: Sequence[Middleware],
        formats: Mapping[str, Format],
        api_key_secret: str,
        require_api_key: bool,
    ) -> None:
        self.index = index
        self.session = session
        self.ledger = ledger
        self.resilience = resilience
        self.health = resilience.health
        self.require_api_key = require_api_key
        self.formats = formats
        self._api_key_secret = api_key_secret
        self.key_limiter = KeyRateLimiter()
        self.proxy_pool = ProxyPool(session.timeout)
        self.planner = Planner(resilience.rng, resilience.state)
        self._call = compose(middlewares, self._send)

    # -- authentication and resolution ------------------------------------------------------

    def authenticate(self, request: web.Request, *, listing: bool = False) -> KeyInfo | None:
        """The client key; 401 when a key is required and missing or unknown, or has expired.

        ``listing`` (the model lists) needs no key when the security section says so; a key
        that is sent still narrows the list to its scope.
        """
        if listing and not self.index.sections.security.models_require_key:
            try:
                return self.authenticate(request)
            except GatewayError:
                return None
        key = client_key(request)
        info = None
        if key:
            # Looked up by keyed hash: the caller cannot steer the digest, so the lookup's
            # timing reveals nothing about stored keys.
            info = self.index.key_hashes.get(hash_key(self._api_key_secret, key))
            if info is not None and info.expired(time.time()):
                raise GatewayError(ErrorKind.AUTH, "API key expired", code="expired_api_key")
        if info is None and self.require_api_key:
            message = (
                "invalid API key" if key else "missing API key: send 'Authorization: Bearer <key>'"
            )
            raise GatewayError(ErrorKind.AUTH, message, code="invalid_api_key")
        return info

    def admit(
        self, key: KeyInfo | None, model: str, resolved: Resolved, *, combo: bool = False
    ) -> None:
        """Refuse a model outside the key's scope (403) and a key over its requests-per-minute
        limit (429). (A blocked provider is refused per target, in ``_build_attempt``.)"""
        if key is not None:
            check_scope(key, model, resolved, combo=combo)
            check_rate(self.key_limiter, key)

    def plan(self, model: str) -> Plan:
        """The targets to try for ``model``, in this request's order (a combo's strategy,
        nested combos flattened, then the fallback chain; resting targets last)."""
        route = self.index.route(model)
        if route.static is not None:
            return route.static
        return self.planner.plan(route, self.health.states, self.resilience.clock())

    def accounts(self, resolved: Resolved) -> list[Connection]:
        """The provider's active connections in the order the account strategy chose."""
        provider = resolved.provider
        conns = self.index.active(provider.id)
        if resolved.connection is not None:
            conns = tuple(c for c in conns if c.id == resolved.connection)
            if not conns:
                raise GatewayError(
                    ErrorKind.UNAVAILABLE,
                    f"connection '{resolved.connection}' of provider '{provider.id}' is off",
                    code="no_active_connection",
                )
        if not conns:
            raise GatewayError(
                ErrorKind.UNAVAILABLE,
                f"no active connection for provider '{provider.id}': add one with "
                f"'omniroute providers add {provider.id}' or POST /api/providers",
                code="no_active_connection",
            )
        # An open circuit breaker raises here, so a combo moves on to its next target.
        ordered = self.resilience.order(provider.id, conns, self.index.routing)
        return self._model_ready_first(ordered, resolved.model)

    def _model_ready_first(self, conns: list[Connection], model: str | None) -> list[Connection]:
        """``conns`` with those resting ``model`` (a provider's per-model limit) moved last:
        still tried when nothing else is left, as their rest may have ended early."""
        states = self.health.states
        if not model or not any(
            (state := states.get(c.id)) is not None and state.model_rests for c in conns
        ):
            return conns  # the common case: one dictionary lookup per connection
        ready: list[Connection] = []
        resting: list[Connection] = []
        for conn in conns:
            (resting if self.health.model_rest(conn.id, model) else ready).append(conn)
        return ready + resting

    # -- attempts ---------------------------------------------------------------------------

    async def _send(self, attempt: Attempt) -> UpstreamResponse:
        # The attempt's outbound proxy (key, combo, provider, global, environment), if any.
        session = self.proxy_pool.session_for(self.index.proxies, attempt, self.session)
        try:
            resp = await session.post(
                attempt.url, data=orjson.dumps(attempt.body), headers=attempt.headers
            )
        except PROXY_ERRORS as exc:
            raise proxy_failure(exc) from exc
        return UpstreamResponse(resp.status, resp.headers, live=resp)

    def _attempt(self, ctx: RequestContext, conn: Connection) -> Attempt:
        target = self.formats[ctx.resolved.provider.format]
        if (
            ctx.ir is None
            and target is not ctx.source
            and target.translates
            and ctx.source.translates
            and ctx.source.untranslatable(ctx.body) is None
        ):
            # Parsed here, outside the net below: a request that cannot be parsed is the
            # client's error and ends the request, whatever target comes next.
            ctx.ir = ctx.source.parse_request(ctx.body)
        try:
            return self._build_attempt(ctx, conn)
        except UnservableTarget:
            raise
        except GatewayError as err:
            # Raised before anything was sent: this target cannot take this request (no
            # default model, no such endpoint, no translation); another target may.
            raise UnservableTarget(err) from None

    def _build_attempt(self, ctx: RequestContext, conn: Connection) -> Attempt:
        check_blocked(self.index.blocked, ctx.resolved)
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
        for name in provider.forwarded_headers:
            if (value := ctx.client_headers.get(name)) is not None:
                headers[name] = value
        # An upstream that only streams gets a stream request even for a JSON client; the
        # answer is then collected from the stream (dispatch.forward_json).
        stream = ctx.stream or (provider.upstream_streams and ctx.endpoint is Endpoint.CHAT)
        if target is ctx.source:
            body = target.passthrough_request(
                ctx.body, model, stream_usage=stream and provider.stream_usage
            )
            if stream and not ctx.stream:
                body["stream"] = True
            headers.update(ctx.forwarded)
        else:
            body = self._translated_body(ctx, target, model, stream)
        return Attempt(
            provider=provider,
            connection=conn,
            endpoint=ctx.endpoint,
            url=provider.url(conn, ctx.endpoint, model=model, stream=stream),
            headers=headers,
            body=body,
            stream=stream,
            request_id=ctx.request_id,
            client_key_id=ctx.key_id,
            model=model,
            extras={"combo": ctx.combo} if ctx.combo else {},
        )

    def _translated_body(
        self, ctx: RequestContext, target: Format, model: str, stream: bool
    ) -> dict[str, Any]:
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
        ctx.ir.stream = stream
        return target.render_request(ctx.ir)

    async def _try(self, ctx: RequestContext, conn: Connection, accept: Accept[T]) -> T:
        """One attempt through one connection: admitted under the connection's limits, its
        outcome recorded in the hot state (account rest, circuit breaker, latency). Raises the
        attempt's error (credentials redacted); a connection at its own limit raises before
        anything is sent and is not rested.
        """
        attempt = self._attempt(ctx, conn)
        settings = self.index.resilience
        admission = await self.resilience.admit(attempt.provider.id, conn, settings, attempt.model)
        ctx.connection, ctx.model, ctx.attempts = conn, attempt.model, ctx.attempts + 1
        try:
            resp = await self._call(attempt)
        except TRANSPORT_ERRORS as exc:
            err: GatewayError = transport_error(exc)
        except BaseException:
            self.resilience.abandoned(admission)
            raise
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
                self.resilience.abandoned(admission)
                raise
            else:
                self.resilience.succeeded(admission, resp.status)
                if ctx.stream:  # the connection stays busy until the relay closes the stream
                    resp.on_close(admission.release)
                else:
                    admission.release()
                return result
        err.message = redact(err.message, conn.api_key)
        self.resilience.failed(admission, err, settings)
        raise err

    async def forward(self, ctx: RequestContext, accept: Accept[T]) -> T:
        """Try the plan's targets in order, each target's accounts in turn, until one gives a
        usable answer; every decision is taken before anything reaches the client.

        Failures another account might not share (auth, rate limit, quota, 5xx, timeout,
        connect error) rest that account and move on. Failures of the target itself (a
        context too long for its model, a model or endpoint it lacks, no usable connection)
        skip its other accounts and move on to the next target. Anything else means the
        request itself is wrong, and ends it at once. A client that leaves cancels the task,
        which stops the chain.
        """
        targets = ctx.plan.targets if ctx.plan is not None else (ctx.resolved,)
        several = len(targets) > 1
        failures: list[tuple[Resolved, GatewayError]] = []
        # With other targets to go to, a resting account waits until every ready account of
        # every target was tried: it would most likely fail again, and fail slowly.
        resting: list[tuple[Resolved, list[Connection]]] = []
        for target in targets:
            ctx.resolved = target
            try:
                conns = self.accounts(target)
                if several:
                    conns, later = self._split_resting(conns, target.model)
                    if later:
                        resting.append((target, later))
                return await self._through(ctx, conns, accept, failures)
            except TargetExhausted:
                continue
            except GatewayError as err:
                next_target_or_raise(ctx, target, err, several, failures)
        for target, conns in resting:
            ctx.resolved = target
            try:
                return await self._through(ctx, conns, accept, failures)
            except TargetExhausted:
                continue
            except GatewayError as err:
                next_target_or_raise(ctx, target, err, several, failures)
        ctx.failed = ctx.attempts
        raise exhausted(ctx, failures, several)

    async def _through(
        self,
        ctx: RequestContext,
        conns: Sequence[Connection],
        accept: Accept[T],
        failures: list[tuple[Resolved, GatewayError]],
    ) -> T:
        """The first usable answer through ``conns`` (of the target in ``ctx.resolved``).

        Failover errors are collected and the next connection tried; raises
        :class:`TargetExhausted` when none is left, any other error at once.
        """
        for conn in conns:
            try:
                result = await self._try(ctx, conn, accept)
            except GatewayError as err:
                if not err.failover:
                    raise
                failures.append((ctx.resolved, err))
            else:
                ctx.failed = ctx.attempts - 1
                return result
        raise TargetExhausted

    def _split_resting(
        self, conns: list[Connection], model: str | None
    ) -> tuple[list[Connection], list[Connection]]:
        """``conns`` split into the ready and the resting ones (the connection, or ``model`` on
        it), each in the given order."""
        now, states = self.resilience.clock(), self.health.states
        ready: list[Connection] = []
        resting: list[Connection] = []
        for conn in conns:
            state = states.get(conn.id)
            rests = state is not None and (
                state.cooling(now) or (bool(state.model_rests) and self._model_rests(conn, model))
            )
            (resting if rests else ready).append(conn)
        return ready, resting

    def _model_rests(self, conn: Connection, model: str | None) -> bool:
        return self.health.model_rest(conn.id, model) is not None
