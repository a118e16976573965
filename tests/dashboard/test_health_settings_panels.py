"""The Health and Settings pages in a real browser: the health cards, a rate-limited connection
seen in the lockouts card and force-unlocked; settings forms that save only what changed, keep
it across a reload, and show the API's validation message next to the field it names."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import Page, expect

from omniroute.testing import Reply
from tests.dashboard.conftest import LiveGateway, login, screenshot


def chat(live: LiveGateway) -> int:
    """One chat request through the gateway's front door; its HTTP status."""
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    request = urllib.request.Request(
        live.url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


# -- settings ---------------------------------------------------------------------------------


def test_settings_shows_the_five_sections_and_the_password_form(
    page: Page, live: LiveGateway
) -> None:
    login(page, live, "settings")
    for title in ("Security", "Routing", "Resilience", "AI", "Advanced"):
        expect(page.get_by_role("form", name=f"{title} settings")).to_be_visible()
    expect(page.get_by_role("form", name="Change password")).to_be_visible()
    security = page.get_by_role("form", name="Security settings")
    expect(security.get_by_role("checkbox", name="Login required")).to_be_checked()
    expect(security.get_by_role("group", name="IP rules")).to_be_visible()
    ai = page.get_by_role("form", name="AI settings")
    expect(ai.get_by_label("System prompt position")).to_have_value("prepend")
    screenshot(page, "settings-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(security.get_by_role("button", name="Save security")).to_be_visible()
    screenshot(page, "settings-mobile")


def test_a_changed_resilience_number_is_saved_and_kept_after_reload(
    page: Page, live: LiveGateway
) -> None:
    login(page, live, "settings")
    form = page.get_by_role("form", name="Resilience settings")
    form.get_by_label("Failure threshold").fill("7")
    form.get_by_label("Max concurrent").fill("4")
    form.get_by_role("button", name="Save resilience").click()
    expect(form.get_by_role("status")).to_have_text("Saved")
    stored = live.api("GET", "/api/settings/resilience")
    assert stored["profile"]["failureThreshold"] == 7
    assert stored["limits"]["maxConcurrent"] == 4
    assert stored["profile"]["cooldownSeconds"] == 30  # untouched fields keep their values

    page.reload()
    form = page.get_by_role("form", name="Resilience settings")
    expect(form.get_by_label("Failure threshold")).to_have_value("7")
    expect(form.get_by_label("Max concurrent")).to_have_value("4")


def test_the_routing_strategy_is_chosen_from_the_registered_ones(
    page: Page, live: LiveGateway
) -> None:
    login(page, live, "settings")
    form = page.get_by_role("form", name="Routing settings")
    form.get_by_label("Account strategy").select_option("round-robin")
    form.get_by_role("button", name="Save routing").click()
    expect(form.get_by_role("status")).to_have_text("Saved")
    assert live.api("GET", "/api/settings/routing")["accountStrategy"] == "round-robin"

    page.reload()
    form = page.get_by_role("form", name="Routing settings")
    expect(form.get_by_label("Account strategy")).to_have_value("round-robin")


def test_lists_are_edited_one_per_line(page: Page, live: LiveGateway) -> None:
    login(page, live, "settings")
    form = page.get_by_role("form", name="Security settings")
    form.get_by_label("Trusted proxies").fill("10.0.0.1\n192.168.0.0/16\n")
    form.get_by_role("button", name="Save security").click()
    expect(form.get_by_role("status")).to_have_text("Saved")
    assert live.api("GET", "/api/settings/security")["trustedProxies"] == [
        "10.0.0.1/32",
        "192.168.0.0/16",
    ]
    # The form now shows what the API stored (normalised).
    expect(form.get_by_label("Trusted proxies")).to_have_value("10.0.0.1/32\n192.168.0.0/16")
    live.api("PATCH", "/api/settings/security", {"trustedProxies": []})


def test_an_invalid_value_shows_the_api_error_next_to_its_field(
    page: Page, live: LiveGateway
) -> None:
    before = live.api("GET", "/api/settings/resilience")["profile"]["failureThreshold"]
    login(page, live, "settings")
    form = page.get_by_role("form", name="Resilience settings")
    form.get_by_label("Failure threshold").fill("0")
    form.get_by_role("button", name="Save resilience").click()
    field = form.locator(".field").filter(has=page.get_by_label("Failure threshold"))
    expect(field.get_by_role("alert")).to_contain_text(
        re.compile("profile.failureThreshold.*greater than or equal to 1")
    )
    expect(form.get_by_label("Failure threshold")).to_have_attribute("aria-invalid", "true")
    expect(form.get_by_role("status")).to_have_text("")
    assert live.api("GET", "/api/settings/resilience")["profile"]["failureThreshold"] == before

    # An unparsable map is refused before it is sent, next to the map.
    form.get_by_label("Failure threshold").fill(str(before))
    form.get_by_label("Providers").fill("{not json")
    form.get_by_role("button", name="Save resilience").click()
    providers = form.locator(".field").filter(has=page.get_by_label("Providers"))
    expect(providers.get_by_role("alert")).to_contain_text("not valid JSON")


def test_a_wrong_current_password_is_reported_next_to_it(page: Page, live: LiveGateway) -> None:
    login(page, live, "settings")
    form = page.get_by_role("form", name="Change password")
    form.get_by_label("Current password").fill("not-the-password")
    form.get_by_label("New password").fill("a-new-password")
    form.get_by_label("Confirm password").fill("a-new-password")
    form.get_by_role("button", name="Change password").click()
    field = form.locator(".field").filter(has=page.get_by_label("Current password"))
    expect(field.get_by_role("alert")).to_be_visible()
    live.api("GET", "/api/auth/status")  # the admin session still works: nothing changed


# -- health -----------------------------------------------------------------------------------


def test_health_shows_its_six_cards(page: Page, live: LiveGateway) -> None:
    login(page, live, "health")
    main = page.locator("main")
    for title in ("System", "Cache", "Circuit breakers", "Rate-limit cooldowns", "Lockouts"):
        expect(main.get_by_role("heading", name=title, exact=True)).to_be_visible()
    expect(main.get_by_role("heading", name=re.compile(r"^Latency"))).to_be_visible()
    version = live.api("GET", "/api/monitoring/health")["version"]
    expect(main.get_by_text(version, exact=True)).to_be_visible()
    expect(main.get_by_text("storage.sqlite")).to_be_visible()
    expect(main.get_by_text("No response cache configured.")).to_be_visible()
    expect(page.get_by_text(re.compile("^Last updated"))).to_be_visible()


def test_a_rate_limited_connection_is_locked_out_and_can_be_force_unlocked(
    page: Page, live: LiveGateway
) -> None:
    conn = live.connect_fake("health-fake")
    assert chat(live) == 200  # one answer: a latency sample for openai
    live.fake.enqueue(Reply.error(429, "slow down", headers={"retry-after": "120"}))
    assert chat(live) == 429
    assert [row["id"] for row in live.api("GET", "/api/resilience/lockouts")["lockouts"]] == [
        conn["id"]
    ]

    login(page, live, "health")
    lockouts = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Lockouts", exact=True)
    )
    row = lockouts.get_by_role("row").filter(has_text="health-fake")
    expect(row).to_contain_text("rate limited")
    expect(row).to_contain_text(re.compile(r"1 min \d+ s|\d+ s"))
    cooldowns = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Rate-limit cooldowns")
    )
    expect(cooldowns.get_by_role("row").filter(has_text="health-fake")).to_be_visible()
    latency = page.locator("section.card").filter(
        has=page.get_by_role("heading", name=re.compile("^Latency"))
    )
    expect(latency.get_by_role("row").filter(has_text="openai")).to_be_visible()
    screenshot(page, "health-desktop")

    # Cancelling the confirmation changes nothing.
    row.get_by_role("button", name="Unlock health-fake").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(row).to_be_visible()

    row.get_by_role("button", name="Unlock health-fake").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Unlock health-fake now?")
    dialog.get_by_role("button", name="Unlock").click()
    expect(lockouts.get_by_text("Nothing is locked out.")).to_be_visible()
    assert live.api("GET", "/api/resilience/lockouts")["lockouts"] == []

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "health-mobile")


def test_reset_all_asks_first_then_clears_every_lockout(page: Page, live: LiveGateway) -> None:
    live.fake.enqueue(Reply.error(429, "slow down", headers={"retry-after": "300"}))
    assert chat(live) == 429
    login(page, live, "health")
    lockouts = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Lockouts", exact=True)
    )
    expect(lockouts.get_by_role("row").filter(has_text="health-fake")).to_be_visible()
    lockouts.get_by_role("button", name="Reset all").click()
    page.get_by_role("dialog").get_by_role("button", name="Reset all").click()
    expect(lockouts.get_by_text("Nothing is locked out.")).to_be_visible()
    assert live.api("GET", "/api/resilience/lockouts")["lockouts"] == []
