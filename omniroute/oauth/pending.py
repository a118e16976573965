"""Logins in progress (between "open this URL" and the code coming back): in memory, with a TTL."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

#: How long a started login waits for its code or approval.
PENDING_TTL_SECONDS = 15 * 60


@dataclass(slots=True)
class PendingLogin:
    """One login in progress: which provider and flow, and the flow's own start object
    (:class:`~omniroute.oauth.flows.AuthorizationStart` or ``DeviceStart``)."""

    provider: str
    flow: str
    start: Any
    name: str | None = None
    expires_at: float = field(default_factory=lambda: time.time() + PENDING_TTL_SECONDS)


class PendingLogins:
    """Pending logins by session id. Expired ones vanish on the next access."""

    def __init__(self, ttl: float = PENDING_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._items: dict[str, PendingLogin] = {}

    def add(self, login: PendingLogin) -> str:
        """Keep ``login``; returns its session id."""
        self._purge()
        login.expires_at = min(login.expires_at, time.time() + self.ttl)
        session = secrets.token_urlsafe(24)
        self._items[session] = login
        return session

    def get(self, session: str, provider: str) -> PendingLogin | None:
        """The login ``session`` of ``provider``, or ``None`` (unknown, expired, other provider)."""
        self._purge()
        login = self._items.get(session)
        return login if login is not None and login.provider == provider else None

    def pop(self, session: str) -> None:
        """Forget a finished login."""
        self._items.pop(session, None)

    def __len__(self) -> int:
        self._purge()
        return len(self._items)

    def _purge(self) -> None:
        now = time.time()
        for key in [k for k, v in self._items.items() if v.expires_at <= now]:
            del self._items[key]
