"""The Combos and API keys panels in a real browser: a combo built and reordered through the
editor routes real chat requests, target health shows a resting connection, and a key is shown
once, works, and is refused once revoked."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from omniroute.testing.fake_openai import Reply
from tests.dashboard.conftest import BackgroundLoop, LiveGateway, login, screenshot


def chat(live: LiveGateway, key: str, model: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST a one-message chat completion; status, JSON body and headers."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(
        live.url + "/v1/chat/completions",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}"), dict(err.headers)


@pytest.fixture(scope="module")
def live(
    background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    """This module's gateway refuses requests without a valid key, so revoking shows."""
    gateway = LiveGateway(
        background_loop, tmp_path_factory.mktemp("combos-keys"), require_api_key=True
    )
    yield gateway
    gateway.close()


@pytest.fixture(scope="module")
def connected(live: LiveGateway) -> LiveGateway:
    live.connect_fake("fake-openai")
    return live


def combo_named(live: LiveGateway, name: str) -> dict[str, Any]:
    return next(c for c in live.api("GET", "/api/combos") if c["name"] == name)


def test_a_combo_built_in_the_editor_is_listed_reordered_and_routes_chat(
    page: Page, connected: LiveGateway
) -> None:
    live = connected
    login(page, live, "combos")
    page.get_by_role("button", name="New combo").click()
    editor = page.get_by_role("form", name="New combo")
    editor.get_by_label("Name").fill("team-chat")
    strategies = editor.get_by_label("Strategy").locator("option")
    expect(strategies).to_contain_text(["priority", "round-robin", "weighted"])
    add = editor.get_by_label("Add target")
    add.fill("openai/gpt-4o-mini")
    add.press("Enter")  # Enter adds the target; it does not submit the form
    add.fill("openai/gpt-4o")
    editor.get_by_role("button", name="Add target").click()
    expect(editor.get_by_role("list", name="Targets in order").locator("li")).to_have_count(2)
    editor.get_by_role("button", name="Create combo").click()

    row = page.locator("tr", has=page.get_by_text("team-chat", exact=True))
    expect(row.get_by_role("list", name="Targets of team-chat").locator("li code")).to_have_text(
        ["openai/gpt-4o-mini", "openai/gpt-4o"]
    )
    expect(row.get_by_text("priority")).to_be_visible()
    expect(row.locator(".badge-ok")).to_have_count(2)
    stored = combo_named(live, "team-chat")
    assert [t["model"] for t in stored["models"]] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    screenshot(page, "combos-desktop")

    # Reorder with the keyboard: the moved target's button keeps the focus.
    page.get_by_role("button", name="Edit team-chat").click()
    editor = page.get_by_role("form", name="Edit combo team-chat")
    move_up = editor.get_by_role("button", name="Move openai/gpt-4o up")
    move_up.focus()
    page.keyboard.press("Enter")
    expect(editor.get_by_role("list", name="Targets in order").locator("li code")).to_have_text(
        ["openai/gpt-4o", "openai/gpt-4o-mini"]
    )
    expect(editor.get_by_role("button", name="Move openai/gpt-4o down")).to_be_focused()
    editor.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved team-chat")).to_be_visible()
    expect(row.get_by_role("list", name="Targets of team-chat").locator("li code")).to_have_text(
        ["openai/gpt-4o", "openai/gpt-4o-mini"]
    )
    assert [t["model"] for t in combo_named(live, "team-chat")["models"]] == [
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    ]

    key = live.api("POST", "/api/keys", {"name": "combo-caller"})["key"]
    status, body, headers = chat(live, key, "team-chat")
    assert status == 200, body
    assert headers["X-OmniRoute-Combo"] == "team-chat"
    assert live.fake.requests[-1].json["model"] == "gpt-4o"  # the new first target

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Edit team-chat")).to_be_visible()
    screenshot(page, "combos-mobile")


def test_weights_are_edited_only_for_a_weighted_strategy(
    page: Page, connected: LiveGateway
) -> None:
    live = connected
    login(page, live, "combos")
    page.get_by_role("button", name="New combo").click()
    editor = page.get_by_role("form", name="New combo")
    editor.get_by_label("Name").fill("split-load")
    for target in ("openai/gpt-4o", "openai/gpt-4o-mini"):
        editor.get_by_label("Add target").fill(target)
        editor.get_by_role("button", name="Add target").click()
    expect(editor.get_by_label("Weight of openai/gpt-4o", exact=True)).to_have_count(0)
    editor.get_by_label("Strategy").select_option("weighted")
    editor.get_by_label("Weight of openai/gpt-4o", exact=True).fill("3")
    editor.get_by_role("button", name="Remove openai/gpt-4o-mini").click()
    editor.get_by_role("button", name="Create combo").click()
    expect(page.get_by_text("Created split-load")).to_be_visible()
    stored = combo_named(live, "split-load")
    assert stored["strategy"] == "weighted"
    assert stored["models"] == [{"model": "openai/gpt-4o", "connection": None, "weight": 3.0}]


def test_a_bad_target_shows_the_apis_message_and_keeps_the_editor(
    page: Page, connected: LiveGateway
) -> None:
    login(page, connected, "combos")
    page.get_by_role("button", name="New combo").click()
    editor = page.get_by_role("form", name="New combo")
    editor.get_by_label("Name").fill("broken")
    editor.get_by_label("Add target").fill("nosuchprovider/model")
    editor.get_by_role("button", name="Create combo").click()
    expect(editor.locator(".field-error")).to_contain_text("known provider prefix")
    assert all(c["name"] != "broken" for c in connected.api("GET", "/api/combos"))


def test_a_resting_connection_shows_on_its_targets_and_delete_asks_first(
    page: Page, connected: LiveGateway
) -> None:
    live = connected
    live.connect_fake("fake-groq", provider="groq")
    live.api("POST", "/api/combos", {"name": "groq-only", "models": ["groq/llama-3.3-70b"]})
    key = live.api("POST", "/api/keys", {"name": "rest-maker"})["key"]
    live.fake.enqueue(Reply.error(429, "slow down", headers={"retry-after": "50"}))
    status, _, _ = chat(live, key, "groq-only")
    assert status == 429

    login(page, live, "combos")
    row = page.locator("tr", has=page.get_by_text("groq-only", exact=True))
    expect(row.locator(".badge-warn")).to_contain_text("resting")
    expect(row.locator(".badge-warn")).to_contain_text("s left")

    row.get_by_role("button", name="Delete groq-only").click()
    dialog = page.get_by_role("dialog", name="Confirm")
    expect(dialog).to_contain_text('Delete the combo "groq-only"?')
    dialog.get_by_role("button", name="Cancel").click()
    assert any(c["name"] == "groq-only" for c in live.api("GET", "/api/combos"))
    row.get_by_role("button", name="Delete groq-only").click()
    page.get_by_role("dialog", name="Confirm").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("Deleted groq-only")).to_be_visible()
    expect(row).to_have_count(0)
    assert all(c["name"] != "groq-only" for c in live.api("GET", "/api/combos"))


def test_a_new_key_is_shown_once_works_and_is_refused_after_revoking(
    page: Page, connected: LiveGateway
) -> None:
    live = connected
    login(page, live, "keys")
    page.get_by_role("button", name="New key").click()
    form = page.get_by_role("form", name="New key")
    form.get_by_label(re.compile("^Name")).fill("laptop")
    form.get_by_label("Allowed models").fill("openai/*")
    form.get_by_label("Requests per minute").fill("120")
    form.get_by_role("button", name="Create key").click()

    once = page.get_by_role("dialog", name="Your new key: laptop")
    expect(once).to_contain_text("you will not see it again")
    plain = once.locator("code.key-plain").inner_text()
    assert plain.startswith("sk-omni-")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    once.get_by_role("button", name="Copy key").click()
    expect(once.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == plain
    once.get_by_role("button", name="I have copied it").click()
    expect(once).to_have_count(0)
    assert plain not in page.content()
    assert plain not in page.evaluate("document.documentElement.outerHTML")

    row = page.locator("tr", has=page.get_by_text("laptop", exact=True))
    expect(row).to_contain_text("openai/*")
    expect(row).to_contain_text("120")
    expect(row.locator("code")).to_have_text(plain[:4] + "…" + plain[-4:])
    stored = next(k for k in live.api("GET", "/api/keys") if k["name"] == "laptop")
    assert stored["allowedModels"] == ["openai/*"]
    assert stored["rpmLimit"] == 120

    status, body, _ = chat(live, plain, "openai/gpt-4o-mini")
    assert status == 200, body
    screenshot(page, "keys-desktop")

    row.get_by_role("button", name="Revoke laptop").click()
    dialog = page.get_by_role("dialog", name="Confirm")
    expect(dialog).to_contain_text('Revoke "laptop"?')
    dialog.get_by_role("button", name="Cancel").click()
    assert chat(live, plain, "openai/gpt-4o-mini")[0] == 200
    row.get_by_role("button", name="Revoke laptop").click()
    page.get_by_role("dialog", name="Confirm").get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Revoked laptop")).to_be_visible()
    expect(row.locator(".badge")).to_have_text("revoked")
    assert chat(live, plain, "openai/gpt-4o-mini")[0] == 401


def test_editing_scope_expiry_and_a_budget(page: Page, connected: LiveGateway) -> None:
    live = connected
    created = live.api("POST", "/api/keys", {"name": "ci-runner"})
    login(page, live, "keys")
    page.get_by_role("button", name="Edit ci-runner").click()
    form = page.get_by_role("form", name="Edit key ci-runner")
    form.get_by_label("Allowed models").fill("openai/gpt-4o\nteam-*")
    form.get_by_label("Expires").fill("2031-05-01T12:00")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved ci-runner")).to_be_visible()
    stored = live.api("GET", f"/api/keys/{created['id']}")
    assert stored["allowedModels"] == ["openai/gpt-4o", "team-*"]
    assert stored["expiresAt"].startswith("2031-05-01")

    page.get_by_role("button", name="Budget of ci-runner").click()
    budget = page.get_by_role("form", name="Budget of ci-runner")
    budget.get_by_label("Limit (USD)").fill("25")
    budget.get_by_label("Period").select_option("weekly")
    budget.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Budget saved")).to_be_visible()
    row = page.locator("tr", has=page.get_by_text("ci-runner", exact=True))
    expect(row).to_contain_text("$0.00 of $25.00 weekly")
    budgets = live.api("GET", f"/api/usage/budget?keyId={created['id']}")["budgets"]
    assert budgets[0]["limit"] == 25 and budgets[0]["period"] == "weekly"

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="New key")).to_be_visible()
    screenshot(page, "keys-mobile")

    page.get_by_role("button", name="Budget of ci-runner").click()
    page.get_by_role("button", name="Remove budget").click()
    page.get_by_role("dialog", name="Confirm").get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Budget removed")).to_be_visible()
    expect(row).to_contain_text("none")
    assert live.api("GET", "/api/usage/budget")["budgets"] == []


def test_regenerating_shows_the_new_key_once_and_the_old_one_stops(
    page: Page, connected: LiveGateway
) -> None:
    live = connected
    old = live.api("POST", "/api/keys", {"name": "rotating"})["key"]
    login(page, live, "keys")
    page.get_by_role("button", name="Regenerate rotating").click()
    page.get_by_role("dialog", name="Confirm").get_by_role("button", name="Regenerate").click()
    once = page.get_by_role("dialog", name="Your new key: rotating")
    new = once.locator("code.key-plain").inner_text()
    assert new.startswith("sk-omni-") and new != old
    once.get_by_role("button", name="Close").click()
    expect(once).to_have_count(0)
    assert new not in page.content()
    assert chat(live, old, "openai/gpt-4o-mini")[0] == 401
    assert chat(live, new, "openai/gpt-4o-mini")[0] == 200
