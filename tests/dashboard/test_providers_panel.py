"""The Providers page in a real browser: the empty state, adding an OpenAI account through the
form, testing it against the fake upstream, the API's errors next to their fields, disabling
and enabling, editing (priority and limits), a resting account, deleting after a confirmation,
and a plugin's ``connect:<provider>`` form used instead of the generic one."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

import tests.dashboard.conftest as dashboard_conftest
from omniroute.extensions import DashboardPanel
from omniroute.hookspecs import hookimpl
from omniroute.plugins import PluginManager
from omniroute.testing.fake_openai import Reply
from tests.dashboard.conftest import BackgroundLoop, LiveGateway, login, screenshot

# A plugin's connect form for Groq, as an OAuth provider's plugin would ship one: it creates the
# connection its own way, then tells the Providers page through ctx.onConnected.
CONNECT_JS = """
export default {
  async mount(root, ctx) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Authorize with Groq";
    button.addEventListener("click", async () => {
      const created = await ctx.api.post("/api/providers",
        { provider: "groq", name: "groq-via-plugin", apiKey: "gsk-from-plugin" });
      ctx.onConnected(created);
    });
    const note = document.createElement("p");
    note.textContent = "Groq plugin connect form for " + ctx.provider.name;
    root.append(note, button);
  },
};
"""


class ConnectPlugin:
    @hookimpl
    def register_dashboard_panels(self, register: Callable[[DashboardPanel], None]) -> None:
        register(
            DashboardPanel(
                id="groq-connect",
                title="Connect Groq",
                page="omniroute_test_connect:connect.js",
                slot="connect:groq",
            )
        )


@pytest.fixture(scope="module")
def live(
    background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    """The module's gateway, with a test plugin that registers a ``connect:groq`` panel."""
    packages = tmp_path_factory.mktemp("plugin")
    package = packages / "omniroute_test_connect"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "connect.js").write_text(CONNECT_JS)
    real_manager = dashboard_conftest.get_plugin_manager

    def manager_with_plugin() -> PluginManager:
        pm = real_manager()
        pm.register(ConnectPlugin(), name="omniroute-test-connect")
        return pm

    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(packages))
        mp.setattr(dashboard_conftest, "get_plugin_manager", manager_with_plugin)
        gateway = LiveGateway(background_loop, tmp_path_factory.mktemp("dashboard"))
        yield gateway
        gateway.close()


def connection(live: LiveGateway, name: str) -> dict[str, Any] | None:
    return next((c for c in live.api("GET", "/api/providers") if c["name"] == name), None)


def stored(live: LiveGateway, name: str) -> dict[str, Any]:
    conn = connection(live, name)
    assert conn is not None, f"no connection named {name}"
    return conn


def row(page: Page, name: str) -> Locator:
    return page.locator(".provider-group tbody tr").filter(has_text=name)


def add_openai(page: Page, name: str, key: str, base_url: str) -> None:
    page.get_by_role("button", name="Add provider").click()
    page.get_by_label("Search providers").fill("openai")
    page.get_by_label("Provider", exact=True).select_option("openai")
    form = page.get_by_role("form", name="Add OpenAI")
    form.get_by_label("Name").fill(name)
    form.get_by_label("API key").fill(key)
    form.get_by_label("Base URL").fill(base_url)
    form.get_by_role("button", name="Add OpenAI").click()


def test_empty_state_tells_a_new_user_to_add_a_provider(page: Page, live: LiveGateway) -> None:
    for conn in live.api("GET", "/api/providers"):  # whatever other tests left
        live.api("DELETE", f"/api/providers/{conn['id']}")
    login(page, live, "providers")
    expect(page.get_by_role("heading", name="No providers yet: add one")).to_be_visible()
    page.get_by_role("button", name="Add your first provider").click()
    expect(page.get_by_label("Search providers")).to_be_focused()


def test_add_openai_through_the_form_lists_it_masked(page: Page, live: LiveGateway) -> None:
    login(page, live, "providers")
    add_openai(page, "ui-openai", live.upstream_key, live.upstream_url)
    expect(page.get_by_text("ui-openai added")).to_be_visible()
    group = page.locator('.provider-group[data-provider="openai"]')
    expect(group.get_by_role("heading", name="OpenAI")).to_be_visible()
    expect(row(page, "ui-openai")).to_contain_text("active")
    stored = connection(live, "ui-openai")
    assert stored is not None and stored["baseUrl"] == live.upstream_url
    assert stored["isActive"] is True
    expect(row(page, "ui-openai")).to_contain_text(stored["apiKey"])  # the masked key
    assert live.upstream_key not in page.content()  # the secret is never rendered
    expect(page.get_by_role("form", name="Add OpenAI")).to_have_count(0)


def test_test_shows_success_against_the_fake_and_a_wrong_key_fails(
    page: Page, live: LiveGateway
) -> None:
    live.connect_fake("test-good")
    live.api(
        "POST",
        "/api/providers",
        {
            "provider": "openai",
            "name": "test-bad",
            "apiKey": "sk-wrong",
            "baseUrl": live.upstream_url,
        },
    )
    login(page, live, "providers")
    row(page, "test-good").get_by_role("button", name="Test test-good").click()
    expect(row(page, "test-good").locator(".test-result")).to_contain_text(re.compile(r"OK \d+"))
    row(page, "test-bad").get_by_role("button", name="Test test-bad").click()
    result = row(page, "test-bad").locator(".test-result")
    expect(result).to_contain_text("Failed (401)")


def test_bad_input_shows_the_api_message_next_to_the_field(page: Page, live: LiveGateway) -> None:
    login(page, live, "providers")
    add_openai(page, "bad-url", live.upstream_key, "ftp://example.test")
    form = page.get_by_role("form", name="Add OpenAI")
    base_url_field = form.locator(".field").filter(has=page.get_by_label("Base URL"))
    expect(base_url_field.locator(".field-error")).to_contain_text("http:// or https://")
    expect(form.get_by_label("Base URL")).to_have_attribute("aria-invalid", "true")

    form.get_by_label("Base URL").fill("")
    form.get_by_label("API key").fill("sk has spaces")
    form.get_by_role("button", name="Add OpenAI").click()
    key_field = form.locator(".field").filter(has=page.get_by_label("API key"))
    expect(key_field.locator(".field-error")).to_have_text("apiKey must not contain whitespace")
    expect(base_url_field.locator(".field-error")).to_have_count(0)
    assert connection(live, "bad-url") is None


def test_disable_then_enable(page: Page, live: LiveGateway) -> None:
    live.connect_fake("toggle-me")
    login(page, live, "providers")
    row(page, "toggle-me").get_by_role("button", name="Disable toggle-me").click()
    expect(row(page, "toggle-me")).to_contain_text("disabled")
    assert stored(live, "toggle-me")["isActive"] is False
    row(page, "toggle-me").get_by_role("button", name="Enable toggle-me").click()
    expect(row(page, "toggle-me").locator(".status")).to_have_text("active")
    assert stored(live, "toggle-me")["isActive"] is True


def test_edit_priority_and_limits(page: Page, live: LiveGateway) -> None:
    conn = live.connect_fake("edit-me")
    login(page, live, "providers")
    row(page, "edit-me").get_by_role("button", name="Edit edit-me").click()
    dialog = page.get_by_role("dialog", name="Edit edit-me")
    dialog.get_by_label("Max concurrent").fill("0")
    dialog.get_by_role("button", name="Save").click()
    field = dialog.locator(".field").filter(has=page.get_by_label("Max concurrent"))
    expect(field.locator(".field-error")).to_contain_text("greater than or equal to 1")

    dialog.get_by_label("Priority").fill("7")
    dialog.get_by_label("Max concurrent").fill("3")
    dialog.get_by_label("Requests per minute").fill("50")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    expect(row(page, "edit-me")).to_contain_text("50 rpm · 3 concurrent")
    assert stored(live, "edit-me")["priority"] == 7
    limits = live.api("GET", "/api/resilience")["settings"]["connectionLimits"][conn["id"]]
    assert limits == {"requestsPerMinute": 50, "maxConcurrent": 3}

    # Emptying a limit makes it inherit again.
    row(page, "edit-me").get_by_role("button", name="Edit edit-me").click()
    dialog.get_by_label("Requests per minute").fill("")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_have_count(0)
    expect(row(page, "edit-me").get_by_role("cell").nth(3)).to_have_text("3 concurrent")
    limits = live.api("GET", "/api/resilience")["settings"]["connectionLimits"][conn["id"]]
    assert limits == {"maxConcurrent": 3}


def test_a_resting_connection_shows_its_rest_and_can_be_woken(
    page: Page, live: LiveGateway
) -> None:
    live.connect_fake("rest-a")
    live.connect_fake("rest-b")
    live.fake.enqueue(Reply.error(429, "slow down", headers={"retry-after": "300"}))
    request = urllib.request.Request(
        live.url + "/v1/chat/completions",
        data=json.dumps(
            {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        ).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # the next account answers
        assert resp.status == 200
    lockouts = live.api("GET", "/api/resilience/lockouts")["lockouts"]
    resting = next(lock for lock in lockouts if lock["reason"] == "rate_limited")
    login(page, live, "providers")
    rest = row(page, resting["name"]).locator(".rest")
    expect(rest).to_contain_text(re.compile(r"resting · \d+ min"))
    expect(rest).to_contain_text("rate limited")
    screenshot(page, "providers-desktop")
    rest.get_by_role("button", name="End rest").click()
    expect(rest).to_have_text("—")
    assert not any(
        lock["id"] == resting["id"]
        for lock in live.api("GET", "/api/resilience/lockouts")["lockouts"]
    )


def test_delete_asks_first_and_removes_it(page: Page, live: LiveGateway) -> None:
    conn = live.connect_fake("delete-me")
    live.api("PATCH", "/api/resilience", {"connectionLimits": {conn["id"]: {"maxConcurrent": 2}}})
    login(page, live, "providers")
    row(page, "delete-me").get_by_role("button", name="Delete delete-me").click()
    confirm = page.get_by_role("dialog", name="Confirm")
    expect(confirm).to_contain_text('"delete-me"')
    confirm.get_by_role("button", name="Cancel").click()
    expect(row(page, "delete-me")).to_have_count(1)
    assert connection(live, "delete-me") is not None

    row(page, "delete-me").get_by_role("button", name="Delete delete-me").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(row(page, "delete-me")).to_have_count(0)
    assert connection(live, "delete-me") is None
    settings = live.api("GET", "/api/resilience")["settings"]
    assert conn["id"] not in settings["connectionLimits"]  # its limits went with it


def test_a_plugin_connect_form_replaces_the_generic_one(page: Page, live: LiveGateway) -> None:
    login(page, live, "providers")
    page.get_by_role("button", name="Add provider").click()
    page.get_by_label("Search providers").fill("groq")  # the first match is picked
    expect(page.get_by_label("Provider", exact=True)).to_have_value("groq")
    expect(page.get_by_text("Groq plugin connect form for Groq")).to_be_visible()
    expect(page.get_by_role("form", name="Add Groq")).to_have_count(0)
    page.get_by_role("button", name="Authorize with Groq").click()
    expect(row(page, "groq-via-plugin")).to_contain_text("active")
    expect(page.locator('.provider-group[data-provider="groq"]')).to_be_visible()
    assert connection(live, "groq-via-plugin") is not None


def test_mobile_layout(page: Page, live: LiveGateway) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live, "providers")
    expect(page.locator(".provider-group").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at 390 px ({width} px wide)"
    screenshot(page, "providers-mobile")
