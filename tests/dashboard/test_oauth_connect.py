"""The OAuth login widget on the Providers page: ``cc/`` through the authorization URL and a
pasted ``code#state``, ``gh/`` through a device code the page polls for, and a connection whose
refresh token was revoked showing "needs re-auth" and logging in again through the same widget.

The authorization servers are :class:`FakeOAuthServer`\\ s on the background loop; the plugins
read their ``OMNIROUTE_CLAUDE_*`` / ``OMNIROUTE_COPILOT_*`` endpoints when they register (at
``create_app``), so the environment is set before this module's gateway is built.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from playwright.sync_api import Page, expect

from omniroute.testing import FakeOAuthServer
from omniroute.testing.fake_claude_oauth import FakeClaudeOAuthUpstream
from tests.dashboard.conftest import BackgroundLoop, LiveGateway, _serve, login, screenshot

CLAUDE_CLIENT = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
COPILOT_CLIENT = "Iv1.b507a08c87ecfe98"
EMAIL = "max@example.com"


def fake_github_api(oauth: FakeOAuthServer) -> web.Application:
    """GitHub's API as a Copilot login uses it: the Copilot token exchange (the subscription
    check) and ``/user`` (the login name), for GitHub tokens ``oauth`` issued."""

    def token_of(request: web.Request) -> str | None:
        _, _, token = request.headers.get("Authorization", "").partition(" ")
        return token if oauth.is_valid(token) else None

    async def copilot_token(request: web.Request) -> web.Response:
        if token_of(request) is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        expires = int(time.time()) + 1800
        return web.json_response(
            {"token": f"tid={secrets.token_hex(4)};exp={expires}", "expires_at": expires}
        )

    async def user(request: web.Request) -> web.Response:
        if token_of(request) is None:
            return web.json_response({"message": "Bad credentials"}, status=401)
        return web.json_response({"login": "octocat", "id": 1})

    app = web.Application()
    app.router.add_get("/copilot_internal/v2/token", copilot_token)
    app.router.add_get("/user", user)
    return app


class OAuthLive(LiveGateway):
    """The live gateway with Claude's and GitHub's fake authorization servers."""

    claude: FakeOAuthServer
    github: FakeOAuthServer


@pytest.fixture(scope="module")
def live(
    background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OAuthLive]:
    claude = FakeOAuthServer(
        client_id=CLAUDE_CLIENT,
        token_format="json",
        paste_back=True,
        access_prefix="sk-ant-oat01-",
        refresh_prefix="sk-ant-ort01-",
        token_extra={"account": {"uuid": "acc-1", "email_address": EMAIL}},
    )
    github = FakeOAuthServer(
        client_id=COPILOT_CLIENT,
        require_pkce=False,
        issue_refresh_token=False,
        expires_in=None,
        pending_status=200,
        device_interval=1,
    )
    servers = [
        background_loop.run(_serve(app))
        for app in (
            claude.app,
            FakeClaudeOAuthUpstream(claude).app,
            github.app,
            fake_github_api(github),
        )
    ]
    claude_base, upstream_base, github_base, api_base = (url for _, url in servers)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OMNIROUTE_CLAUDE_AUTHORIZE_URL", claude.authorize_url(claude_base))
        env.setenv("OMNIROUTE_CLAUDE_TOKEN_URL", claude.token_url(claude_base))
        env.setenv("OMNIROUTE_CLAUDE_BASE_URL", upstream_base)
        env.setenv("OMNIROUTE_COPILOT_DEVICE_URL", github.device_url(github_base))
        env.setenv("OMNIROUTE_COPILOT_TOKEN_URL", github.token_url(github_base))
        env.setenv("OMNIROUTE_COPILOT_API_URL", api_base)
        env.setenv("OMNIROUTE_COPILOT_BASE_URL", api_base)
        gateway = OAuthLive(background_loop, tmp_path_factory.mktemp("oauth-connect"))
    gateway.claude, gateway.github = claude, github
    yield gateway
    gateway.close()
    for runner, _ in servers:
        background_loop.run(runner.cleanup())


def connections_of(live: LiveGateway, provider: str) -> list[dict[str, Any]]:
    return [c for c in live.api("GET", "/api/providers") if c["provider"] == provider]


def ensure_cc_connected(live: OAuthLive) -> None:
    """The cc/ account, logged in through the API when no test has connected it yet (the
    tests may run in any order)."""
    if connections_of(live, "claude-code"):
        return
    started = live.api("GET", "/api/oauth/cc/authorize")
    pasted = live.run(live.claude.approve_authorization(started["url"]))
    live.api("POST", "/api/oauth/cc/exchange", {"session": started["session"], "code": pasted})


def open_add_form(page: Page, provider_id: str) -> None:
    page.get_by_role("button", name="Add provider", exact=True).click()
    page.get_by_label("Provider", exact=True).select_option(provider_id)


def log_in_claude(page: Page, live: OAuthLive, scope: Any, shot: str | None = None) -> None:
    """Get the link, approve at the fake as the user's browser, paste ``code#state``."""
    scope.get_by_role("button", name=re.compile("Get (login|a new) link")).click()
    link = scope.get_by_role("link", name="Open the Claude")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    url = link.get_attribute("href")
    assert url and url.startswith(live.claude.authorize_url(url.split("/oauth")[0]))
    expect(scope.get_by_label("Login address")).to_have_value(url)
    if shot:
        screenshot(page, shot)
    pasted = live.run(live.claude.approve_authorization(url))
    scope.get_by_label("Authorization code").fill(pasted)
    scope.get_by_role("button", name="Connect").click()
    expect(scope.get_by_text(f"Connected as {EMAIL}")).to_be_visible()


def test_cc_connects_through_the_authorization_url_and_a_pasted_code(page: Page, live: OAuthLive):
    login(page, live, "providers")
    open_add_form(page, "claude-code")
    form = page.locator(".oauth-connect")
    expect(form.get_by_text("Or import the CLI's credentials")).to_be_visible()
    form.get_by_role("button", name="Get login link").click()
    form.get_by_label("Authorization code").fill("not-a-code#wrong-state")
    form.get_by_role("button", name="Connect").click()
    field = form.locator(".field").filter(has=page.get_by_label("Authorization code"))
    expect(field.get_by_role("alert")).to_contain_text("invalid_state")  # the API's, at the field
    before = connections_of(live, "claude-code")

    log_in_claude(page, live, form)
    (conn,) = connections_of(live, "claude-code")  # a re-login would update, not add
    assert conn["name"] == EMAIL and conn["needsReauth"] is False
    assert [c["id"] for c in before] in ([], [conn["id"]])
    expect(page.locator('.provider-group[data-provider="claude-code"]')).to_contain_text(EMAIL)
    form.get_by_role("button", name="Done").click()
    expect(page.locator(".provider-add")).to_be_hidden()


def test_an_import_the_api_refuses_shows_why_under_the_field(page: Page, live: OAuthLive):
    login(page, live, "providers")
    open_add_form(page, "claude-code")
    form = page.locator(".oauth-connect")
    form.get_by_text("Or import the CLI's credentials").click()
    form.get_by_label("Credentials JSON").fill('{"something": "else"}')
    form.get_by_role("button", name="Import").click()
    field = form.locator(".field").filter(has=page.get_by_label("Credentials JSON"))
    expect(field.get_by_role("alert")).to_contain_text("claudeAiOauth.accessToken")
    expect(form.get_by_label("Credentials JSON")).to_have_attribute("aria-invalid", "true")


def test_gh_connects_through_a_device_code_the_page_polls_for(page: Page, live: OAuthLive):
    ensure_cc_connected(live)
    login(page, live, "providers")
    open_add_form(page, "copilot")
    form = page.locator(".oauth-connect")
    form.get_by_role("button", name="Get a device code").click()
    code = form.locator("output.user-code")
    expect(code).to_have_text(re.compile(r"\S"))
    assert code.inner_text() == live.github.user_codes[-1]
    expect(form.get_by_role("button", name="Copy code")).to_be_visible()
    expect(form.get_by_role("link", name="http")).to_have_attribute("target", "_blank")
    expect(form.get_by_text("checking again in")).to_be_visible()
    expect(form.get_by_role("progressbar")).to_be_visible()
    assert connections_of(live, "copilot") == []  # not approved yet: nothing stored
    screenshot(page, "providers-oauth-device-desktop")

    live.github.approve(code.inner_text())
    expect(form.get_by_text("Connected as octocat")).to_be_visible(timeout=15_000)
    (conn,) = connections_of(live, "copilot")
    assert conn["name"] == "octocat" and conn["needsReauth"] is False
    form.get_by_role("button", name="Done").click()
    for provider, name in (("claude-code", EMAIL), ("copilot", "octocat")):
        expect(page.locator(f'.provider-group[data-provider="{provider}"]')).to_contain_text(name)


def test_a_device_login_can_be_cancelled(page: Page, live: OAuthLive):
    login(page, live, "providers")
    open_add_form(page, "copilot")
    form = page.locator(".oauth-connect")
    form.get_by_role("button", name="Get a device code").click()
    expect(form.locator("output.user-code")).to_be_visible()
    form.get_by_role("button", name="Cancel").click()
    expect(form.get_by_text("Login cancelled")).to_be_visible()
    expect(form.locator("output.user-code")).to_have_count(0)
    expect(form.get_by_role("button", name="Get a new device code")).to_be_focused()


def ask_claude(live: LiveGateway) -> int:
    body = {
        "model": "cc/claude-opus-4-6",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    request = urllib.request.Request(
        live.url + "/v1/messages",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "anthropic-version": "2023-06-01"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_a_revoked_login_shows_needs_reauth_and_logs_in_again(page: Page, live: OAuthLive):
    ensure_cc_connected(live)
    for token in live.claude.live_refresh_tokens:
        live.claude.revoke(token)
    live.claude.expire()
    assert ask_claude(live) >= 400
    (conn,) = connections_of(live, "claude-code")
    assert conn["needsReauth"] is True

    login(page, live, "providers")
    group = page.locator('.provider-group[data-provider="claude-code"]')
    expect(group.get_by_text("needs re-auth")).to_be_visible()
    relogin = group.get_by_role("button", name="Log in again")
    expect(relogin).to_be_visible()
    screenshot(page, "providers-oauth-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(relogin).to_be_visible()
    screenshot(page, "providers-oauth-mobile")

    relogin.focus()
    page.keyboard.press("Enter")  # keyboard-usable: the dialog opens with the widget
    dialog = page.get_by_role("dialog", name="Log in again")
    expect(dialog.get_by_role("button", name="Get login link")).to_be_focused()
    log_in_claude(page, live, dialog, shot="providers-oauth-relogin-mobile")
    (conn,) = connections_of(live, "claude-code")
    assert conn["needsReauth"] is False and conn["status"] == "active"
    dialog.get_by_role("button", name="Done").click()
    expect(group.get_by_text("needs re-auth")).to_have_count(0)
    assert ask_claude(live) == 200
