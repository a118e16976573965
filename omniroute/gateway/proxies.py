"""Outbound proxies: which one an upstream attempt goes through, and one pooled session each.

The configuration (``/api/settings/proxy``) names a proxy globally, per provider, per combo and
per client key; the most specific wins: key → combo → provider → global → the environment
(``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` and ``NO_PROXY``, when the advanced section's
``useEnvironmentProxy`` is on). ``{"type": "direct"}`` at any level means no proxy from there on.

HTTP(S) proxies are reached with CONNECT, SOCKS5 ones with the SOCKS protocol, both through
``aiohttp-socks``; each distinct proxy gets one ``ClientSession`` with its own connection pool,
made on first use and closed with the app.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp_socks import (
    ProxyConnectionError,
    ProxyConnector,
    ProxyError,
    ProxyTimeoutError,
    ProxyType,
)

from omniroute.accounts.vault import Secret
from omniroute.extensions import Attempt

_TYPES = {"http": ProxyType.HTTP, "https": ProxyType.HTTP, "socks5": ProxyType.SOCKS5}
PoolKey = tuple[str, str, int, str | None, str | None]

#: What ``aiohttp-socks`` raises when the proxy itself fails (none is an ``OSError``).
PROXY_ERRORS = (ProxyError, ProxyConnectionError, ProxyTimeoutError)


def proxy_failure(exc: Exception) -> OSError:
    """A proxy's failure as the transport error it is for routing: the upstream could not be
    reached (a timeout stays a timeout)."""
    if isinstance(exc, ProxyTimeoutError):
        return TimeoutError(f"outbound proxy timed out: {exc}")
    return ConnectionError(f"outbound proxy failed: {exc}")


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """One proxy to send through (``type`` ``direct``: none)."""

    type: str
    host: str = ""
    port: int = 0
    username: str | None = None
    password: Secret | None = None

    @property
    def direct(self) -> bool:
        """Whether this means "no proxy"."""
        return self.type == "direct"

    @property
    def pool_key(self) -> PoolKey:
        """What makes two routes share a pool: everything, the password included."""
        secret = self.password.reveal() if self.password else None
        return (self.type, self.host, self.port, self.username, secret)

    def describe(self) -> str:
        """``socks5://host:port`` for messages: never the credentials."""
        return "direct" if self.direct else f"{self.type}://{self.host}:{self.port}"

    def connector(self) -> ProxyConnector:
        """A new connector that tunnels every connection through this proxy."""
        return ProxyConnector(
            proxy_type=_TYPES[self.type],
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password.reveal() if self.password else None,
            # SOCKS: let the proxy resolve names, so DNS leaks nothing from this host.
            rdns=True,
            proxy_ssl=ssl.create_default_context() if self.type == "https" else None,
            limit=0,
            ttl_dns_cache=300,
        )


def route_from_url(url: str) -> ProxyRoute | None:
    """A route from an environment-style proxy URL (``http://u:p@host:3128``,
    ``socks5h://host:1080``); None when it is not one we can use."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    scheme = {"socks5h": "socks5"}.get(parts.scheme, parts.scheme)
    if scheme not in _TYPES or not parts.hostname:
        return None
    try:
        port = parts.port or (1080 if scheme == "socks5" else 443 if scheme == "https" else 80)
    except ValueError:
        return None
    password = Secret(unquote(parts.password)) if parts.password else None
    username = unquote(parts.username) if parts.username else None
    return ProxyRoute(scheme, parts.hostname, port, username, password)


@dataclass(frozen=True)
class EnvironmentProxies:
    """The proxies the process environment names, read once per routing index build."""

    https: ProxyRoute | None = None
    http: ProxyRoute | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def read(cls, environ: Mapping[str, str] | None = None) -> EnvironmentProxies:
        """Parse ``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (either case)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name) or env.get(name.lower()) or ""

        fallback = get("ALL_PROXY")
        https, http = get("HTTPS_PROXY") or fallback, get("HTTP_PROXY") or fallback
        no_proxy = get("NO_PROXY").split(",")
        return cls(
            https=route_from_url(https) if https else None,
            http=route_from_url(http) if http else None,
            no_proxy=tuple(e.strip().lower().lstrip(".") for e in no_proxy if e.strip()),
        )

    @property
    def empty(self) -> bool:
        """Whether the environment names no proxy."""
        return self.https is None and self.http is None

    def for_url(self, url: str) -> ProxyRoute | None:
        """The environment's proxy for ``url``, honouring ``NO_PROXY``."""
        parts = urlsplit(url)
        route = self.https if parts.scheme == "https" else self.http
        if route is None:
            return None
        host = (parts.hostname or "").lower()
        for entry in self.no_proxy:
            if entry == "*" or host == entry or host.endswith("." + entry):
                return None
        return route


@dataclass(frozen=True)
class ProxyTable:
    """The proxy configuration as the routing index holds it (passwords decrypted)."""

    global_: ProxyRoute | None = None
    providers: dict[str, ProxyRoute] = field(default_factory=dict)
    combos: dict[str, ProxyRoute] = field(default_factory=dict)
    keys: dict[str, ProxyRoute] = field(default_factory=dict)
    environment: EnvironmentProxies = field(default_factory=EnvironmentProxies)
    #: Whether every request goes direct: computed once, so the common case costs one read.
    empty: bool = field(init=False)

    def __post_init__(self) -> None:
        nothing = not (self.global_ or self.providers or self.combos or self.keys)
        object.__setattr__(self, "empty", nothing and self.environment.empty)

    def choose(self, attempt: Attempt) -> ProxyRoute | None:
        """The proxy for one attempt: key → combo → provider → global → environment; None
        for a direct connection."""
        route = None
        if attempt.client_key_id is not None:
            route = self.keys.get(attempt.client_key_id)
        if route is None and self.combos:
            combo = attempt.extras.get("combo")
            route = self.combos.get(combo.lower()) if isinstance(combo, str) else None
        if route is None:
            route = self.providers.get(attempt.provider.id) or self.global_
        if route is None:
            route = self.environment.for_url(attempt.url)
        return None if route is None or route.direct else route


class ProxyPool:
    """One ``ClientSession`` per distinct proxy, made on first use, closed with the app."""

    def __init__(self, timeout: aiohttp.ClientTimeout) -> None:
        self._timeout = timeout
        self._sessions: dict[PoolKey, aiohttp.ClientSession] = {}

    def session(self, route: ProxyRoute) -> aiohttp.ClientSession:
        """The pooled session that sends through ``route``."""
        key = route.pool_key
        session = self._sessions.get(key)
        if session is None or session.closed:
            session = aiohttp.ClientSession(connector=route.connector(), timeout=self._timeout)
            self._sessions[key] = session
        return session

    def session_for(
        self, table: ProxyTable, attempt: Attempt, default: aiohttp.ClientSession
    ) -> aiohttp.ClientSession:
        """The session an attempt is sent with: its proxy's, or ``default`` when direct."""
        if table.empty:
            return default
        route = table.choose(attempt)
        return default if route is None else self.session(route)

    async def close(self) -> None:
        """Close every pooled session."""
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.close()
