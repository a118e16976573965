"""The OAuth middleware: every attempt to an :class:`OAuthProvider` carries a fresh token.

For other providers it costs one ``isinstance`` check. An upstream 401 gets one refresh and one
retry. Error bodies are redacted of every token of the credential before anything reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omniroute.extensions import Attempt, CallNext, Middleware, UpstreamResponse
from omniroute.oauth.credentials import OAuthCredentials, redact_all
from omniroute.oauth.flows import TokenClient
from omniroute.oauth.keeper import TokenKeeper, parse_secret
from omniroute.oauth.pending import PendingLogins
from omniroute.oauth.provider import OAuthProvider

if TYPE_CHECKING:
    from omniroute.oauth.quota import QuotaWatcher

MIDDLEWARE_ID = "oauth"
#: Outside most layers: caches and logs inside see the authorized attempt.
MIDDLEWARE_ORDER = 10


class OAuthRuntime:
    """The OAuth state of one gateway: its token keeper and its logins in progress.

    One is made per registry build (so per app); ``bind`` connects it to the app's store,
    vault and client session when the app starts. Unbound (before that), attempts use the
    stored access token as it is.
    """

    def __init__(self) -> None:
        self.keeper: TokenKeeper | None = None
        #: The quota watcher, while the app runs (see :mod:`omniroute.oauth.quota`).
        self.quota: QuotaWatcher | None = None
        self.pending = PendingLogins()
        self.middleware = Middleware(MIDDLEWARE_ID, self.handle, order=MIDDLEWARE_ORDER)

    @property
    def bound(self) -> bool:
        return self.keeper is not None

    def bind(self, app: Mapping[Any, Any]) -> TokenKeeper:
        """Bind to a started app (or a request's ``config_dict``): its store, vault, session,
        registry and gateway. Binding again keeps the first keeper."""
        if self.keeper is not None:
            return self.keeper
        from omniroute.appkeys import GATEWAY, HTTP_SESSION, REGISTRY, SECRETS, STORE
        from omniroute.reload import reload_index

        registry = app[REGISTRY]

        def flow_for(provider: OAuthProvider) -> TokenClient | None:
            flow = registry.auth_flows.get(provider.auth_flow)
            driver = getattr(flow, "driver", None)
            return driver if isinstance(driver, TokenClient) else None

        async def on_refresh(_conn: Any) -> None:
            await reload_index(app)

        def on_needs_reauth(conn: Any) -> None:
            gateway = app[GATEWAY]
            state = gateway.resilience.state.account(conn.id)
            # Rested "for good" (until a new login): health lists it, strategies put it last.
            state.cooldown_until = gateway.resilience.clock() + 10 * 365 * 86400
            state.cooldown_reason = "needs_reauth"
            state.last_error = "needs_reauth"

        self.keeper = TokenKeeper(
            store=app[STORE],
            vault=app[SECRETS].vault,
            session=app[HTTP_SESSION],
            flow_for=flow_for,
            on_refresh=on_refresh,
            on_needs_reauth=on_needs_reauth,
        )
        return self.keeper

    def unbind(self) -> None:
        """Forget the app (it stopped)."""
        self.keeper = None

    async def handle(self, attempt: Attempt, call_next: CallNext) -> UpstreamResponse:
        """Authorize OAuth attempts; one refresh and retry when the token is refused."""
        provider = attempt.provider
        if not isinstance(provider, OAuthProvider):
            return await call_next(attempt)
        keeper = self.keeper
        conn = attempt.connection
        creds = (
            await keeper.credentials(conn, provider) if keeper is not None else parse_secret(conn)
        )
        # Shallow copies: enough for a retry, as authorize replaces values rather than editing
        # nested ones in place.
        url, headers, body = attempt.url, dict(attempt.headers), dict(attempt.body)
        provider.authorize(attempt, creds)
        resp = await call_next(attempt)
        if resp.status in provider.unauthorized_statuses and keeper is not None:
            resp.close()
            creds = await keeper.credentials(conn, provider, rejected=creds)
            attempt.url, attempt.headers, attempt.body = url, headers, body
            provider.authorize(attempt, creds)
            resp = await call_next(attempt)
        if resp.status == 429 and self.quota is not None:
            self.quota.after_rate_limit(conn, provider)
        if resp.status >= 400:
            return await _redacted(resp, creds)
        return resp


async def _redacted(resp: UpstreamResponse, creds: OAuthCredentials) -> UpstreamResponse:
    """An error answer with every token of ``creds`` masked (upstreams echo tokens)."""
    try:
        body = await resp.read()
    finally:
        resp.close()
    text = body.decode("utf-8", "replace")
    clean = redact_all(text, creds)
    data = clean.encode() if clean != text else body
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-length"}
    return UpstreamResponse(resp.status, headers, data)
