"""IP allow and deny lists for the front doors and the management API.

The lists are parsed into ``ipaddress`` networks once, when the routing index is built; a
request costs one address parse and a few containment checks, and nothing at all when no list
is set. ``X-Forwarded-For`` is believed only from a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Middleware

from omniroute.appkeys import GATEWAY, REGISTRY
from omniroute.errors import ErrorKind, GatewayError
from omniroute.settings_model import AccessListModel, SecuritySettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _parse(networks: list[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


@dataclass(frozen=True, slots=True)
class AccessList:
    """One side's rules: deny wins; a non-empty allow list admits only what it matches."""

    allow: tuple[Network, ...] = ()
    deny: tuple[Network, ...] = ()

    @classmethod
    def of(cls, model: AccessListModel) -> AccessList:
        """The parsed form of a validated access list."""
        return cls(_parse(model.allow), _parse(model.deny))

    @property
    def empty(self) -> bool:
        """Whether the list admits everyone."""
        return not (self.allow or self.deny)

    def admits(self, address: Address | None) -> bool:
        """Whether ``address`` may pass (an unknown address passes only an empty list)."""
        if self.empty:
            return True
        if address is None:
            return False
        if _within(address, self.deny):
            return False
        return not self.allow or _within(address, self.allow)


@dataclass(frozen=True, slots=True)
class IpRules:
    """The compiled rules of the security section."""

    v1: AccessList = AccessList()
    api: AccessList = AccessList()
    trusted: tuple[Network, ...] = ()
    #: Whether no list is set at all: computed once, as every request reads it.
    empty: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "empty", self.v1.empty and self.api.empty)

    @classmethod
    def of(cls, security: SecuritySettings) -> IpRules:
        """Parse the security section's lists."""
        rules = security.ip_rules
        return cls(
            AccessList.of(rules.v1), AccessList.of(rules.api), _parse(security.trusted_proxies)
        )

    def client_address(self, peer: str | None, forwarded_for: str | None) -> Address | None:
        """The client's address: the peer's, or — when the peer is a trusted proxy — the
        right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries further
        left were written by the client and prove nothing)."""
        address = _address(peer)
        if address is None or not forwarded_for or not _within(address, self.trusted):
            return address
        for hop in reversed(forwarded_for.split(",")):
            candidate = _address(hop.strip())
            if candidate is None:
                return None  # a garbled header from a trusted proxy: admit no guess
            if not _within(candidate, self.trusted):
                return candidate
        return address


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _format_for(path: str) -> str:
    """The wire format a front-door path's clients read errors in."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/responses"):
        return "responses"
    if path.startswith("/v1beta/") or ":generateContent" in path or ":streamGenerate" in path:
        return "gemini"
    return "openai"


def _denied(app: web.Application, path: str, api: bool) -> web.Response:
    err = GatewayError(
        ErrorKind.AUTH,
        "access from this IP address is not allowed",
        status=403,
        code="ip_not_allowed",
        type="permission_error",
    )
    fmt = app[REGISTRY].formats["openai" if api else _format_for(path)]
    return web.Response(body=fmt.error_body(err), status=403, content_type=fmt.error_content_type)


def is_management_path(path: str) -> bool:
    """Whether ``path`` belongs to the management side (``/api`` and the dashboard), which
    the ``api`` rules govern; everything else is the gateway's, under the ``v1`` rules."""
    return path in ("/", "/api", "/dashboard") or path.startswith(("/api/", "/dashboard/"))


def ip_middleware(app: web.Application) -> Middleware:
    """The app-wide middleware enforcing the current index's IP rules (``/api`` and the rest
    separately). It reads the rules from the live snapshot, so changes apply at once."""

    @web.middleware
    async def check_ip(request: web.Request, handler: Handler) -> web.StreamResponse:
        rules: IpRules = app[GATEWAY].index.ip_rules
        if rules.empty:
            return await handler(request)
        path = request.path
        api = is_management_path(path)
        access = rules.api if api else rules.v1
        if not access.empty:
            address = rules.client_address(request.remote, request.headers.get("X-Forwarded-For"))
            if not access.admits(address):
                return _denied(app, path, api)
        return await handler(request)

    return check_ip
