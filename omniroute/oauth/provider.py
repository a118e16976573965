"""The base class of subscription providers: connections hold OAuth credentials, not keys."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson

from omniroute.providers import CheckResult, Connection, Endpoint, Provider

if TYPE_CHECKING:
    import aiohttp

    from omniroute.extensions import Attempt
    from omniroute.oauth.credentials import OAuthCredentials
    from omniroute.oauth.quota import QuotaWindow


class OAuthProvider(Provider):
    """A provider whose connections are subscription accounts logged in through OAuth.

    The token keeper refreshes a connection's access token when fewer than
    ``refresh_lead_seconds`` are left, and :meth:`authorize` puts the fresh credential on each
    attempt. ``import_flow`` names the registered :class:`~omniroute.oauth.flows.ImportFlow`
    that reads the vendor CLI's credential file, if there is one.
    """

    #: Upstream statuses that mean "this access token is no longer accepted": the middleware
    #: refreshes once and retries. Most upstreams say 401; AWS says 403.
    unauthorized_statuses: tuple[int, ...] = (401,)

    def __init__(
        self,
        *,
        refresh_lead_seconds: float = 300,
        import_flow: str | None = None,
        billing: Any = "subscription",
        **kwargs: Any,
    ) -> None:
        super().__init__(billing=billing, **kwargs)
        self.refresh_lead_seconds = refresh_lead_seconds
        self.import_flow = import_flow

    def headers(self, conn: Connection) -> dict[str, str]:
        """Headers without the credential: :meth:`authorize` adds it to each attempt."""
        return {"Content-Type": "application/json"}

    def authorize(self, attempt: Attempt, creds: OAuthCredentials) -> None:
        """Put ``creds`` on ``attempt`` (headers, URL, body). Default: a Bearer access token.

        Called again on a retry after a refresh, from shallow copies of the headers and body:
        replace top-level values (``attempt.body = {...}``), never edit nested ones in place.
        """
        attempt.headers["Authorization"] = f"Bearer {creds.access_token}"

    async def quota(
        self, session: aiohttp.ClientSession, creds: OAuthCredentials
    ) -> list[QuotaWindow]:
        """The account's usage windows now (read with ``creds``, fresh from the token keeper).

        Default: none (the provider reports no windows and the quota watcher skips it).
        Raise :class:`~omniroute.errors.UpstreamError` when the upstream refuses; the watcher
        keeps the last good windows and shows the error.
        """
        return []

    async def check(self, session: aiohttp.ClientSession, conn: Connection) -> CheckResult:
        """List the models with the stored access token (as it is: no refresh here)."""
        from omniroute.extensions import Attempt
        from omniroute.oauth.keeper import parse_secret

        attempt = Attempt(
            provider=self,
            connection=conn,
            endpoint=Endpoint.MODELS,
            url=self.url(conn, Endpoint.MODELS),
            headers=self.headers(conn),
            body={},
            stream=False,
            request_id="check",
        )
        self.authorize(attempt, parse_secret(conn))
        started = time.perf_counter()
        async with session.get(attempt.url, headers=attempt.headers) as resp:
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
