"""Shared fixtures: a real gateway on a real socket, fake upstreams, logged-in admin clients."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from omniroute.app import create_app
from omniroute.plugins import get_plugin_manager
from omniroute.settings import Settings
from omniroute.testing import FakeOpenAIUpstream

ADMIN_PASSWORD = "test-admin-password"
UPSTREAM_KEY = "sk-upstream-test-key-0001"

# Tests must never pick up a developer's real provider keys or gateway settings.
for _var in list(os.environ):
    if _var.startswith(("OPENAI_", "ANTHROPIC_", "GOOGLE_", "GEMINI_", "OMNIROUTE_")) or _var in (
        "REQUIRE_API_KEY",
        "PORT",
        "DATA_DIR",
        "INITIAL_PASSWORD",
        "JWT_SECRET",
        "API_KEY_SECRET",
        "STORAGE_ENCRYPTION_KEY",
    ):
        del os.environ[_var]


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test gateway: fast ledger flushes and config polling."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "initial_password": ADMIN_PASSWORD,
        "ledger_flush_seconds": 0.01,
        "config_poll_seconds": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
    }
    values.update(overrides)
    return Settings(**values)


class Gateway:
    """A running gateway plus an admin session logged in to it."""

    def __init__(self, server: TestServer, admin: aiohttp.ClientSession) -> None:
        self.server = server
        self.admin = admin
        self.app = server.app
        self.url = str(server.make_url("")).rstrip("/")

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Call the management API; returns status and parsed JSON."""
        async with self.admin.request(method, self.url + path, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None)

    async def connect(
        self, base_url: str, provider: str = "openai", api_key: str = UPSTREAM_KEY, **fields: Any
    ) -> dict[str, Any]:
        """Add a connection; fails the test if the API refuses it."""
        body = {"provider": provider, "apiKey": api_key, "baseUrl": base_url, **fields}
        status, data = await self.api("POST", "/api/providers", json=body)
        assert status == 201, data
        return data

    async def create_key(self, name: str = "test") -> str:
        """Create a client key and return the plain key."""
        status, data = await self.api("POST", "/api/keys", json={"name": name})
        assert status == 201, data
        return data["key"]

    def openai(self, api_key: str = "no-key", **kwargs: Any) -> AsyncOpenAI:
        """The official SDK pointed at this gateway."""
        return AsyncOpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        """A raw request without the admin cookie."""
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url + path, **kwargs) as resp,
        ):
            return resp.status, await resp.json(content_type=None), resp


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(tmp_path: Path, aiohttp_server: Any) -> AsyncIterator[GatewayFactory]:
    """Start gateways with settings overrides (``data_dir`` defaults to a fresh temp dir)."""
    sessions: list[aiohttp.ClientSession] = []

    async def factory(pm: Any = None, **overrides: Any) -> Gateway:
        data_dir = overrides.pop("data_dir", tmp_path / f"data{len(sessions)}")
        app = create_app(make_settings(data_dir, **overrides), pm or get_plugin_manager())
        server = await aiohttp_server(app)  # TestServer enables handler_cancellation
        admin = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(admin)
        async with admin.post(
            str(server.make_url("/api/auth/login")), json={"password": ADMIN_PASSWORD}
        ) as resp:
            assert resp.status == 200, await resp.text()
        return Gateway(server, admin)

    yield factory
    for session in sessions:
        await session.close()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> Gateway:
    """A gateway with default test settings."""
    return await make_gateway()


@pytest.fixture
def fake() -> FakeOpenAIUpstream:
    """A fake OpenAI-compatible provider accepting ``UPSTREAM_KEY``."""
    return FakeOpenAIUpstream(api_key=UPSTREAM_KEY)


@pytest.fixture
async def upstream(fake: FakeOpenAIUpstream, aiohttp_server: Any) -> str:
    """The fake provider running on a real socket; its base URL (ending in /v1)."""
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1"))


# -- the translation matrix report ----------------------------------------------------------------
# TRANSLATION_MATRIX_REPORT=docs/translation.md, set for a run of tests/test_translation_matrix.py
# and tests/test_translation_fidelity.py, writes the matrix from that run into the page, between
# its markers (see tests/matrix_report.py).

_MATRIX_OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember the outcome of every matrix cell."""
    matrix = ("test_translation_matrix.py::", "test_translation_fidelity.py::")
    if any(name in report.nodeid for name in matrix) and report.when == "call":
        _MATRIX_OUTCOMES[report.nodeid.split("::", 1)[1]] = report.outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the matrix page when asked to and every cell ran."""
    target = os.environ.get("TRANSLATION_MATRIX_REPORT")
    if target and _MATRIX_OUTCOMES:
        from tests.matrix_report import render, splice

        page = Path(target)
        page.write_text(splice(page.read_text(), render(_MATRIX_OUTCOMES)))
