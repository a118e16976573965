"""A gateway with only this plugin installed, and a fake CodeWhisperer on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from kiro_helpers import (
    ACCESS_TOKEN,
    OIDC_CLIENT_ID,
    OIDC_CLIENT_SECRET,
    PROFILE_ARN,
    credentials,
)

from omniroute.accounts import connections
from omniroute.app import create_app
from omniroute.appkeys import SECRETS, STORE
from omniroute.plugins import get_plugin_manager
from omniroute.reload import reload_index
from omniroute.settings import Settings
from omniroute.testing.fake_kiro import FakeKiroUpstream
from omniroute.testing.fake_oauth import FakeOAuthServer, OAuthPaths

AWS_PATHS = OAuthPaths(token="/token", device="/device_authorization", register="/client/register")


@pytest.fixture
def kiro() -> FakeKiroUpstream:
    return FakeKiroUpstream(ACCESS_TOKEN, profile_arn=PROFILE_ARN)


@pytest.fixture
async def kiro_url(kiro: FakeKiroUpstream, aiohttp_server: Any) -> str:
    server = await aiohttp_server(kiro.app)
    return str(server.make_url("")).rstrip("/")


Connect = Callable[..., Awaitable[None]]


@pytest.fixture
async def gateway(
    tmp_path: Path, aiohttp_server: Any, kiro_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Any]:
    """A running gateway (only ``omniroute-kiro`` among the installed plugins) and a helper that
    adds a ``kr/`` connection in static-token mode. Its refresh token is unknown to the local
    AWS OIDC fake the plugin is pointed at, so a refused token ends in "log in again"."""
    oauth = FakeOAuthServer(
        client_id=OIDC_CLIENT_ID,
        client_secret=OIDC_CLIENT_SECRET,
        token_format="aws",
        paths=AWS_PATHS,
    )
    oidc = await aiohttp_server(oauth.app)
    # Read when the plugin registers: set before the plugin manager is built.
    monkeypatch.setenv("OMNIROUTE_KIRO_OIDC_URL", str(oidc.make_url("")).rstrip("/"))
    settings = Settings(
        data_dir=tmp_path / "data",
        initial_password="test-admin-password",
        ledger_flush_seconds=0.01,
        config_poll_seconds=0.05,
        connect_timeout=2.0,
        read_timeout=5.0,
    )
    app = create_app(settings, get_plugin_manager(load=["omniroute-kiro"], disable=()))
    server = await aiohttp_server(app)

    async def connect(name: str = "kiro-1", secret: str | None = None, base_url: str = kiro_url):
        fields = connections.ConnectionCreate(provider="kiro", name=name, base_url=base_url)
        await app[STORE].call(
            connections.insert, app[SECRETS].vault, fields, secret or credentials()
        )
        await reload_index(app)

    server.connect = connect
    server.url = str(server.make_url("")).rstrip("/")
    yield server
