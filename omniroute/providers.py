"""Providers, their models and the accounts (connections) the gateway holds at them.

A :class:`Provider` describes one upstream API: where it lives, which wire format it speaks, how
to authenticate a :class:`Connection` to it and how to read its errors. Provider plugins create
instances (or subclasses) and hand them to ``register_providers``. Everything here is plain data
or pure functions except :meth:`Provider.check`, the one call that goes to the network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

import orjson

from omniroute.accounts.vault import Secret
from omniroute.errors import ErrorKind, UpstreamError
from omniroute.pricing.prices import Billing, ModelPrice
from omniroute.routing import hints

if TYPE_CHECKING:
    import aiohttp

ModelType = Literal["chat", "embedding", "image", "audio"]
MODEL_TYPES: tuple[ModelType, ...] = ("chat", "embedding", "image", "audio")


class Endpoint(StrEnum):
    """The upstream operations the gateway forwards."""

    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    IMAGES = "images"
    MODELS = "models"
    COUNT_TOKENS = "count_tokens"


#: Path of each endpoint under an OpenAI-compatible base URL.
OPENAI_PATHS: Mapping[Endpoint, str] = {
    Endpoint.CHAT: "/chat/completions",
    Endpoint.EMBEDDINGS: "/embeddings",
    Endpoint.IMAGES: "/images/generations",
    Endpoint.MODELS: "/models",
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One model of a provider's catalogue. ``price`` is the provider's public list price,
    the seed of the pricing table (``None`` when unknown; users can set one)."""

    id: str
    type: ModelType = "chat"
    context_length: int | None = None
    price: ModelPrice | None = None


@dataclass(frozen=True, slots=True)
class Connection:
    """An account at a provider: a credential plus how the gateway should use it."""

    id: str
    provider: str
    name: str
    api_key: Secret
    priority: int = 0
    is_active: bool = True
    default_model: str | None = None
    base_url: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderNode:
    """A user-defined provider: a template provider (``type``) at the user's own base URL."""

    id: str
    name: str
    prefix: str
    type: str
    base_url: str
    models: tuple[ModelInfo, ...] = ()


@dataclass(slots=True)
class CheckResult:
    """The outcome of :meth:`Provider.check`: latency when it worked, the error when not."""

    ok: bool
    latency_ms: float
    status: int | None = None
    error: str | None = None
    models: list[str] = field(default_factory=list)


class Provider:
    """An upstream API. Subclass to change how requests are addressed, signed or judged.

    ``prefix`` is what users type before the model (``ds/deepseek-chat``); ``aliases`` are other
    accepted prefixes. ``format`` names the registered wire format the upstream speaks.
    ``auth_flow`` names the registered auth flow that creates its connections. A ``template``
    provider is not offered by itself: users instantiate it as provider nodes with their own
    prefix and base URL (see :meth:`for_node`). ``billing`` says how the provider charges:
    ``metered`` (per token, priced from the pricing table), ``subscription`` or ``free``
    (tokens are recorded at $0).

    ``upstream_streams`` marks an upstream that answers chat only as a stream (the ChatGPT
    Codex backend): the gateway then asks it for a stream even when the client wants one JSON
    answer, and collects the stream into that answer. It applies to formats that ask for a
    stream in the body (``"stream": true``: OpenAI, Responses, Anthropic).
    """

    #: Where each endpoint lives under the base URL (:meth:`url`); an endpoint missing here
    #: is one the provider does not have.
    paths: Mapping[Endpoint, str] = OPENAI_PATHS
    #: Chat is always requested as a stream upstream (see the class docstring).
    upstream_streams: bool = False
    #: Client request headers passed on to this provider's upstream as they came, whatever
    #: format the client speaks (Copilot's ``X-Initiator``). Never credentials.
    forwarded_headers: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        id: str,
        name: str,
        base_url: str,
        prefix: str | None = None,
        aliases: tuple[str, ...] | list[str] = (),
        models: tuple[ModelInfo, ...] | list[ModelInfo] = (),
        format: str = "openai",
        auth_flow: str = "api-key",
        template: bool = False,
        stream_usage: bool = True,
        docs_url: str | None = None,
        billing: Billing = "metered",
    ) -> None:
        self.id = id
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix or id
        self.aliases = tuple(aliases)
        self.models = tuple(models)
        self.format = format
        self.auth_flow = auth_flow
        self.template = template
        self.stream_usage = stream_usage
        self.docs_url = docs_url
        self.billing = billing

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, prefix={self.prefix!r})"

    # -- addressing -------------------------------------------------------------------------

    def base_url_for(self, conn: Connection) -> str:
        """The base URL for one connection: its override, else the provider's default."""
        return (conn.base_url or self.base_url).rstrip("/")

    def url(
        self,
        conn: Connection,
        endpoint: Endpoint,
        *,
        model: str | None = None,
        stream: bool = False,
    ) -> str:
        """The full URL of ``endpoint`` for ``conn``: the base URL and the endpoint's entry in
        :attr:`paths` (OpenAI-compatible by default).

        ``model`` and ``stream`` are given for APIs that address them in the URL (Gemini's
        ``/models/{model}:streamGenerateContent``); most providers ignore them.
        """
        try:
            return self.base_url_for(conn) + self.paths[endpoint]
        except KeyError:
            raise UpstreamError(
                ErrorKind.BAD_REQUEST,
                f"provider '{self.id}' has no {endpoint.value} endpoint",
                status=400,
            ) from None

    def headers(self, conn: Connection) -> dict[str, str]:
        """Headers that authenticate ``conn``. Default: ``Authorization: Bearer <key>``."""
        return {
            "Authorization": f"Bearer {conn.api_key.reveal()}",
            "Content-Type": "application/json",
        }

    def default_model(self, conn: Connection, endpoint: Endpoint = Endpoint.CHAT) -> str | None:
        """The model used when a request names only the provider (``model: "ds"``)."""
        if conn.default_model:
            return conn.default_model
        wanted = {Endpoint.EMBEDDINGS: "embedding", Endpoint.IMAGES: "image"}.get(endpoint, "chat")
        return next((m.id for m in self.models if m.type == wanted), None)

    # -- judging answers --------------------------------------------------------------------

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamError:
        """Turn an upstream error answer into a classified :class:`UpstreamError`.

        The default reads OpenAI's error object and the standard rate-limit headers; override it
        for providers whose quota or auth failures look different.
        """
        message, err_type, code = _read_error_object(body)
        message = message or f"upstream answered HTTP {status}"
        kind = _kind_for_status(status)
        if status in (400, 413) and is_context_overflow(message, code):
            kind = ErrorKind.CONTEXT_LENGTH
        retry_after = hints.header_hint(headers, resets=kind is ErrorKind.RATE_LIMITED)
        if kind in (ErrorKind.RATE_LIMITED, ErrorKind.UPSTREAM):
            # Bodies carry hints too (Gemini's RetryInfo, "try again in 20s"); only read for
            # answers that may be retried, so a 400's wording never becomes a Retry-After.
            data = hints.load_body(body)
            if retry_after is None:
                retry_after = hints.body_hint(data, message)
            if kind is ErrorKind.RATE_LIMITED and hints.is_quota_exhausted(
                message, err_type, code, body=data, retry_after=retry_after
            ):
                kind = ErrorKind.QUOTA_EXHAUSTED
        return UpstreamError(
            kind, message, status=status, code=code, type=err_type, retry_after=retry_after
        )

    # -- checking a connection --------------------------------------------------------------

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """Make one real, cheap upstream call with ``conn``. Default: list the models."""
        started = time.perf_counter()
        headers = self.headers(conn)
        async with session.get(self.url(conn, Endpoint.MODELS), headers=headers) as resp:
            body = await resp.read()
        latency = (time.perf_counter() - started) * 1000
        if resp.status >= 400:
            err = self.classify_error(resp.status, resp.headers, body)
            return CheckResult(False, latency, status=resp.status, error=err.message)
        try:
            ids = [m["id"] for m in orjson.loads(body).get("data", [])]
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
            ids = []
        return CheckResult(True, latency, status=resp.status, models=ids)

    # -- templates --------------------------------------------------------------------------

    def for_node(self, node: ProviderNode) -> Provider:
        """A provider for a user-defined node built from this template."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.id = node.id
        clone.name = node.name
        clone.prefix = node.prefix
        clone.aliases = ()
        clone.base_url = node.base_url.rstrip("/")
        clone.models = node.models
        clone.template = False
        return clone


def _read_error_object(body: bytes) -> tuple[str | None, str | None, str | None]:
    """Message, type and code from an error body in any of the common shapes."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or None), None, None
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    if not isinstance(data, dict):
        return None, None, None
    err = data.get("error", data)
    if isinstance(err, str):
        return err, data.get("type"), None
    if not isinstance(err, dict):
        return None, None, None
    code = err.get("code")
    return (
        err.get("message") or data.get("message"),
        err.get("type") or err.get("status"),
        str(code) if code is not None else None,
    )


def _kind_for_status(status: int) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 408:
        return ErrorKind.TIMEOUT
    if status == 429:
        return ErrorKind.RATE_LIMITED
    if status >= 500:
        return ErrorKind.UPSTREAM
    return ErrorKind.BAD_REQUEST


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from the rate-limit headers of an answer (``retry-after-ms``,
    ``Retry-After`` as seconds or an HTTP date, ``x-ratelimit-reset-*``,
    ``anthropic-ratelimit-*-reset``), or ``None`` when there is no hint."""
    return hints.header_hint(headers)


_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "exceeds the context",
)


def is_context_overflow(message: str, code: str | None) -> bool:
    """Whether a 400 says the prompt is longer than the model's context (OpenAI's
    ``context_length_exceeded``, Anthropic's "prompt is too long", Gemini's "exceeds the
    context"...): a model with a bigger context may still serve the request."""
    haystack = f"{code or ''} {message}".lower()
    return any(marker in haystack for marker in _CONTEXT_MARKERS)
