"""``omniroute login`` against a local authorization server: headless-friendly, stores the
connection in the database directly, re-login updates it; the gateway then uses the token."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from omniroute.cli import build_cli, manage
from omniroute.plugins import get_plugin_manager
from tests.oauth_fakes import AuthServer, SubscriptionPlugin, Upstream

pytestmark = pytest.mark.timeout(20)


class Served:
    """The auth server and the upstream on real sockets, in a thread of their own (the CLI
    runs its own event loop)."""

    def __init__(self) -> None:
        self.auth = AuthServer()
        self.upstream = Upstream(self.auth)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.urls: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runners = []
        for app in (self.auth.app, self.upstream.app):
            runner = web.AppRunner(app, access_log=None)
            self.loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            port = runner.addresses[0][1]
            self.urls.append(f"http://127.0.0.1:{port}")
            runners.append(runner)
        self.runners = runners
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Served:
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *_: Any) -> None:
        for runner in self.runners:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    with Served() as s:
        plugin = SubscriptionPlugin(s.urls[0], s.urls[1] + "/v1")

        def pm(**kwargs: Any) -> Any:
            manager = get_plugin_manager(**kwargs)
            manager.register(plugin, name="subscription-test")
            return manager

        monkeypatch.setattr(manage, "get_plugin_manager", pm)
        yield s


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def approve(url: str) -> str:
    """What the user does in the browser: approve, and read ``code#state`` off the redirect."""
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=5)
    except urllib.error.HTTPError as exc:
        location = exc.headers["Location"]
    query = dict(p.split("=", 1) for p in location.split("?", 1)[1].split("&"))
    return f"{query['code']}#{query['state']}"


def login(data_dir: Path, *args: str, stdin: Any = None) -> Any:
    return CliRunner().invoke(
        build_cli(),
        ["login", *args, "--data-dir", str(data_dir)],
        input=stdin,
        catch_exceptions=False,
    )


def browser_then_paste(monkeypatch: pytest.MonkeyPatch) -> io.BytesIO:
    """A user who approves in the browser the CLI opens, then pastes the code."""
    stdin = io.BytesIO()

    def open_browser(url: str) -> bool:
        stdin.write(approve(url).encode() + b"\n")
        stdin.seek(0)
        return True

    monkeypatch.setattr("webbrowser.open", open_browser)
    return stdin


def test_login_prints_the_url_and_stores_the_pasted_code(served, tmp_path, monkeypatch):
    result = login(tmp_path, "tst", stdin=browser_then_paste(monkeypatch))
    assert result.exit_code == 0, result.output
    assert "/authorize?" in result.output and "code#state" in result.output
    assert "added connection" in result.output and "alice@example.com" in result.output
    listed = CliRunner().invoke(
        build_cli(), ["providers", "list", "--json", "--data-dir", str(tmp_path)]
    )
    assert '"provider": "tst"' in listed.output and '"needsReauth": false' in listed.output
    db = b"".join(p.read_bytes() for p in tmp_path.glob("storage.sqlite*"))
    assert all(token.encode() not in db for token in served.auth.access)


def test_login_again_with_the_same_account_updates_the_connection(served, tmp_path, monkeypatch):
    first = login(tmp_path, "tst", stdin=browser_then_paste(monkeypatch))
    again = login(tmp_path, "tst", "--name", "main", stdin=browser_then_paste(monkeypatch))
    assert "added connection" in first.output and "updated connection" in again.output
    assert first.output.split("connection ")[1][:12] == again.output.split("connection ")[1][:12]


def test_device_login_prints_the_user_code_and_waits_for_approval(served, tmp_path):
    result = login(tmp_path, "tdv")
    assert result.exit_code == 0, result.output
    assert "ABCD-EFGH" in result.output and "http://127.0.0.1:9/activate" in result.output
    assert "added connection" in result.output


def test_import_of_a_credential_file(served, tmp_path):
    tokens = served.auth.issue("erin")
    path = tmp_path / "creds.json"
    block = {"accessToken": tokens["access_token"], "refreshToken": tokens["refresh_token"]}
    path.write_text(json.dumps({"claudeAiOauth": {**block, "expiresAt": 1}}))
    result = login(tmp_path, "tst", "--import", str(path))
    assert result.exit_code == 0, result.output
    assert "erin@example.com" in result.output and tokens["access_token"] not in result.output


def test_login_to_an_api_key_provider_is_refused(served, tmp_path):
    result = CliRunner().invoke(build_cli(), ["login", "openai", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1 and "not a subscription provider" in result.output


def test_headless_login_without_a_pasted_code_fails_cleanly(served, tmp_path):
    result = login(tmp_path, "tst", "--no-browser", stdin="")
    assert result.exit_code == 1 and "no code was pasted" in result.output
