"""The token keeper: fresh credentials for every OAuth connection, refreshed once at a time.

A refresh happens when fewer than the provider's ``refresh_lead_seconds`` are left (or when the
upstream answered 401). Concurrent callers of one connection share one refresh. A rotated
refresh token is written to the database (one transaction) before the new access token is used,
so a crash cannot lose the only valid refresh token. A refused refresh (``invalid_grant``) marks
the connection ``needs_reauth``: it is kept, shown in the API and health, and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import sqlite_utils

from omniroute.accounts import connections
from omniroute.accounts.vault import Vault, mask
from omniroute.errors import ErrorKind, UpstreamError
from omniroute.oauth.credentials import OAuthCredentials, redact_all
from omniroute.oauth.flows import InvalidGrant, OAuthError, TokenClient
from omniroute.oauth.provider import OAuthProvider
from omniroute.providers import Connection
from omniroute.store.db import Store, transaction

log = logging.getLogger(__name__)


class NeedsReauth(UpstreamError):
    """The provider refused the connection's refresh token: only a new login helps."""

    def __init__(self, conn: Connection, provider: str) -> None:
        super().__init__(
            ErrorKind.AUTH,
            f"connection '{conn.name}' of provider '{provider}' needs a new login: its refresh "
            f"token was refused; run 'omniroute login {provider}'",
            status=401,
            code="needs_reauth",
        )


def parse_secret(conn: Connection) -> OAuthCredentials:
    """The connection's credentials; a secret that is not a credential document is taken as a
    bare access token (static-token mode)."""
    raw = conn.api_key.reveal()
    try:
        return OAuthCredentials.from_secret(raw)
    except ValueError:
        return OAuthCredentials(access_token=raw)


def persist_refresh(
    db: sqlite_utils.Database, vault: Vault, connection_id: str, creds: OAuthCredentials
) -> bool:
    """Store refreshed credentials and mark the connection active, in one transaction."""
    with transaction(db):
        if not connections.update_secret(
            db, vault, connection_id, creds.to_secret(), mask(creds.access_token)
        ):
            return False
        connections.set_status(db, connection_id, "active")
    return True


def mark_needs_reauth(db: sqlite_utils.Database, connection_id: str) -> bool:
    """Record that a connection's login must be renewed."""
    return connections.set_status(db, connection_id, connections.NEEDS_REAUTH)


@dataclass(slots=True)
class _Entry:
    """What the keeper knows of one connection: its newest credentials, and the stored secrets
    they supersede (the routing index may still hold one of them until it reloads)."""

    creds: OAuthCredentials
    known: set[str] = field(default_factory=set)


FlowFor = Callable[[OAuthProvider], TokenClient | None]


class TokenKeeper:
    """Fresh credentials per connection. One per app, bound to its store, vault and session."""

    def __init__(
        self,
        *,
        store: Store,
        vault: Vault,
        session: aiohttp.ClientSession,
        flow_for: FlowFor,
        on_refresh: Callable[[Connection], Awaitable[None]] | None = None,
        on_needs_reauth: Callable[[Connection], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.vault = vault
        self.session = session
        self.flow_for = flow_for
        self.on_refresh = on_refresh
        self.on_needs_reauth = on_needs_reauth
        self.clock = clock
        self.refreshes = 0
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[OAuthCredentials]] = {}
        self._needs_reauth: set[str] = set()

    def current(self, conn: Connection) -> OAuthCredentials:
        """The newest credentials known for ``conn``, without refreshing."""
        raw = conn.api_key.reveal()
        entry = self._entries.get(conn.id)
        if entry is not None and raw in entry.known:
            return entry.creds
        # First sight, or the stored secret changed elsewhere (a new login, the CLI).
        creds = parse_secret(conn)
        self._entries[conn.id] = _Entry(creds, {raw})
        self._needs_reauth.discard(conn.id)
        return creds

    def needs_reauth(self, connection_id: str) -> bool:
        """Whether a refresh of this connection was refused since its last login."""
        return connection_id in self._needs_reauth

    def forget(self, connection_id: str) -> None:
        """Drop what is known of a connection (after a new login replaced its credentials)."""
        self._entries.pop(connection_id, None)
        self._needs_reauth.discard(connection_id)

    async def credentials(
        self,
        conn: Connection,
        provider: OAuthProvider,
        *,
        rejected: OAuthCredentials | None = None,
    ) -> OAuthCredentials:
        """Credentials good for an upstream call now. ``rejected`` is a credential the upstream
        just refused (401): refresh unless someone already replaced it."""
        creds = self.current(conn)
        if conn.id in self._needs_reauth:
            raise NeedsReauth(conn, provider.id)
        if rejected is not None:
            if creds.access_token != rejected.access_token:
                return creds
        else:
            left = creds.expires_in(self.clock())
            if left is None or left > provider.refresh_lead_seconds:
                return creds
        return await self.refresh(conn, provider, creds)

    async def refresh(
        self, conn: Connection, provider: OAuthProvider, creds: OAuthCredentials
    ) -> OAuthCredentials:
        """Refresh ``conn`` now, or join the refresh already in flight for it."""
        task = self._inflight.get(conn.id)
        if task is None:
            task = asyncio.create_task(self._refresh(conn, provider, creds))
            self._inflight[conn.id] = task
            task.add_done_callback(lambda done: self._done(conn.id, done))
        # Shielded: a caller that goes away must not cancel the refresh the others wait for.
        return await asyncio.shield(task)

    def _done(self, connection_id: str, task: asyncio.Task[OAuthCredentials]) -> None:
        if self._inflight.get(connection_id) is task:
            del self._inflight[connection_id]
        if not task.cancelled():
            task.exception()  # retrieved: a failed refresh nobody awaited is not an error

    async def _refresh(
        self, conn: Connection, provider: OAuthProvider, creds: OAuthCredentials
    ) -> OAuthCredentials:
        flow = self.flow_for(provider)
        if flow is None:
            raise UpstreamError(
                ErrorKind.AUTH,
                f"provider '{provider.id}' has no OAuth flow '{provider.auth_flow}' to refresh "
                "its token with",
                status=401,
            )
        try:
            new = await flow.refresh(self.session, creds)
        except InvalidGrant:
            self._needs_reauth.add(conn.id)
            await self.store.call(mark_needs_reauth, conn.id)
            log.warning("connection %s (%s) needs a new login", conn.id, provider.id)
            if self.on_needs_reauth is not None:
                self.on_needs_reauth(conn)
            raise NeedsReauth(conn, provider.id) from None
        except OAuthError as err:
            kind = ErrorKind.RATE_LIMITED if err.status == 429 else ErrorKind.UPSTREAM
            message = redact_all(f"token refresh for '{conn.name}' failed: {err}", creds)
            raise UpstreamError(kind, message, status=502) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError(
                ErrorKind.UNREACHABLE,
                f"token refresh for '{conn.name}' failed: the token endpoint is unreachable "
                f"({type(exc).__name__})",
                status=502,
            ) from None
        # Persisted before anyone uses it: a rotated refresh token must never exist only here.
        await self.store.call(persist_refresh, self.vault, conn.id, new)
        self.refreshes += 1
        entry = self._entries.setdefault(conn.id, _Entry(new))
        entry.creds = new
        entry.known |= {conn.api_key.reveal(), new.to_secret()}
        if self.on_refresh is not None:
            try:
                await self.on_refresh(conn)
            except Exception:  # the stored tokens are right; the index catches up later
                log.exception("reloading the routing index after a token refresh failed")
        return new

    async def wait_idle(self) -> None:
        """Wait for the refreshes in flight (shutdown, tests)."""
        tasks: list[Any] = list(self._inflight.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
