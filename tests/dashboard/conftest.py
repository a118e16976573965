"""Browser tests of the dashboard: a real gateway and a fake upstream on real sockets (run on
an event loop in a background thread), and Debian's Chromium driven by Playwright.

The tests skip, saying why, when Chromium is missing; ``.ci/run`` installs
Chromium, so CI always runs them. Screenshots of every panel go to ``build/screenshots``
(``DASHBOARD_SCREENSHOTS`` to change it); they are not committed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import urllib.request
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from playwright.sync_api import Browser, Page, sync_playwright

from omniroute.app import create_app
from omniroute.plugins import get_plugin_manager
from omniroute.testing import FakeOpenAIUpstream
from tests.conftest import ADMIN_PASSWORD, UPSTREAM_KEY, make_settings

T = TypeVar("T")

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(
    os.environ.get("DASHBOARD_SCREENSHOTS")
    or Path(__file__).resolve().parents[2] / "build" / "screenshots"
)

HERE = Path(__file__).resolve().parent
NO_BROWSER = (
    None
    if Path(CHROMIUM).exists()
    else f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/run does) or set CHROMIUM"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests, saying why, on a machine without Chromium."""
    if NO_BROWSER is None:
        return
    for item in items:
        if HERE in item.path.parents and item.path.name != "conftest.py":
            item.add_marker(pytest.mark.skip(reason=NO_BROWSER))


class BackgroundLoop:
    """An asyncio loop in a thread, for servers the synchronous browser tests talk to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the loop and wait for its result."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


class LiveGateway:
    """A gateway and a fake OpenAI-compatible upstream, both listening on localhost.

    ``api`` calls the management API as a logged-in admin, for arranging what a test needs
    before the browser looks at it (the browser itself always goes through the dashboard).
    """

    def __init__(
        self, loop: BackgroundLoop, data_dir: Path, pm: Any = None, **settings: Any
    ) -> None:
        self._loop = loop
        self.fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        self._upstream_runner, upstream_url = loop.run(_serve(self.fake.app))
        self.upstream_url = upstream_url + "/v1"
        self.upstream_key = UPSTREAM_KEY
        self.password = ADMIN_PASSWORD
        app = create_app(make_settings(data_dir, **settings), pm or get_plugin_manager())
        self.app = app
        self._runner, self.url = loop.run(_serve(app))
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.api("POST", "/api/auth/login", {"password": ADMIN_PASSWORD})

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call ``/api/*`` as the admin; raises with the API's message on an error."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=30) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            raise AssertionError(f"{method} {path}: {err.code} {err.read().decode()}") from None
        return json.loads(raw) if raw else None

    def connect_fake(self, name: str = "fake-openai", provider: str = "openai") -> dict[str, Any]:
        """Add a connection of ``provider`` pointing at the fake upstream."""
        return self.api(
            "POST",
            "/api/providers",
            {
                "provider": provider,
                "name": name,
                "apiKey": UPSTREAM_KEY,
                "baseUrl": self.upstream_url,
            },
        )

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the servers' loop (to reach into the app or the fake)."""
        return self._loop.run(coro)

    def close(self) -> None:
        self._loop.run(self._runner.cleanup())
        self._loop.run(self._upstream_runner.cleanup())


@pytest.fixture(scope="session")
def background_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def live(
    background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    """One gateway per test module (tests in a module share its data: name things uniquely)."""
    gateway = LiveGateway(background_loop, tmp_path_factory.mktemp("dashboard"))
    yield gateway
    gateway.close()


# Per module, not per session: Playwright's synchronous API keeps an event loop marked as
# running on the main thread while it is started, and the async tests that follow the
# browser tests need that thread free.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live: LiveGateway) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1280 px, pointed at the live gateway; fails
    the test on any JavaScript error the page raised."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def login(page: Page, live: LiveGateway, panel: str = "") -> Page:
    """Log in through the form and open ``panel`` (its id), waiting for its heading."""
    page.goto("/")
    page.get_by_label("Password").fill(live.password)
    page.get_by_role("button", name="Log in").click()
    page.locator("header.topbar").wait_for()
    if panel:
        open_panel(page, panel)
    return page


def open_panel(page: Page, panel: str) -> None:
    """Navigate to a panel by its id and wait until it has rendered its heading."""
    page.goto(f"/#/{panel}")
    page.locator(f'.panel[data-panel="{panel}"] h1').first.wait_for()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
