"""Issue 7's "Done when", as one journey: a first-time user on a fresh gateway logs in and does
each task of the dashboard's pages without the command line. Everything is arranged through the
browser; ``live.api`` only checks the result at the end of a step, and a coding tool's requests
go through the ``openai`` SDK, as a real tool would send them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import openai
import pytest
from playwright.sync_api import Page, expect

from omniroute.testing import Reply
from tests.dashboard.conftest import BackgroundLoop, LiveGateway, screenshot

PROVIDER = "journey-openai"
COMBO = "journey-combo"
KEY = "journey-laptop"
TARGET = "openai/gpt-5-mini"  # priced in the seed table, so the budget has something to show


@pytest.fixture(scope="module")
def live(
    background_loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveGateway]:
    """A fresh gateway that, like a real deployment, refuses /v1 requests without a key."""
    gateway = LiveGateway(background_loop, tmp_path_factory.mktemp("journey"), require_api_key=True)
    yield gateway
    gateway.close()


def go(page: Page, title: str, panel_id: str) -> None:
    """Open a page from the navigation, as a person does, and wait for its heading."""
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name=title).click()
    expect(page.locator(f'.panel[data-panel="{panel_id}"] h1').first).to_be_visible()


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


def coding_tool(live: LiveGateway, key: str) -> openai.OpenAI:
    """The client a coding tool would build from the values the CLI tools page shows."""
    return openai.OpenAI(base_url=live.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_a_first_time_user_does_every_dashboard_task_without_the_command_line(
    page: Page, live: LiveGateway
) -> None:
    # 1. Log in with the password.
    page.goto("/")
    page.get_by_label("Password").fill(live.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Signed in as admin")).to_be_visible()
    screenshot(page, "journey-1-login")

    # 2. Providers: the empty state leads to the form; add OpenAI at the fake upstream, test it.
    go(page, "Providers", "providers")
    page.get_by_role("button", name="Add your first provider").click()
    page.get_by_label("Search providers").fill("openai")
    page.get_by_label("Provider", exact=True).select_option("openai")
    form = page.get_by_role("form", name="Add OpenAI")
    form.get_by_label("Name").fill(PROVIDER)
    form.get_by_label("API key").fill(live.upstream_key)
    form.get_by_label("Base URL").fill(live.upstream_url)
    form.get_by_role("button", name="Add OpenAI").click()
    expect(page.get_by_text(f"{PROVIDER} added")).to_be_visible()
    row = page.locator(".provider-group tbody tr").filter(has_text=PROVIDER)
    expect(row).to_contain_text("active")
    row.get_by_role("button", name=f"Test {PROVIDER}").click()
    expect(row.locator(".test-result")).to_contain_text(re.compile(r"OK \d+"))
    [conn] = [c for c in live.api("GET", "/api/providers") if c["name"] == PROVIDER]
    assert conn["baseUrl"] == live.upstream_url
    screenshot(page, "journey-2-providers")

    # 3. Combos: a combo whose first target is that provider's model.
    go(page, "Combos", "combos")
    page.get_by_role("button", name="New combo").click()
    editor = page.get_by_role("form", name="New combo")
    editor.get_by_label("Name").fill(COMBO)
    editor.get_by_label("Add target").fill(TARGET)
    editor.get_by_role("button", name="Add target").click()
    expect(editor.get_by_role("list", name="Targets in order").locator("li")).to_have_count(1)
    editor.get_by_role("button", name="Create combo").click()
    expect(page.get_by_text(f"Created {COMBO}")).to_be_visible()
    combo_row = page.locator("tr", has=page.get_by_text(COMBO, exact=True))
    targets = combo_row.get_by_role("list", name=f"Targets of {COMBO}")
    expect(targets.locator("li code")).to_have_text([TARGET])
    expect(targets.locator(".badge-ok")).to_have_text(["ok"])
    [combo] = [c for c in live.api("GET", "/api/combos") if c["name"] == COMBO]
    assert combo["models"][0]["model"] == TARGET
    screenshot(page, "journey-3-combos")

    # 4. API keys: create a key, read it from the once-only modal, close the modal.
    go(page, "API keys", "keys")
    page.get_by_role("button", name="New key").click()
    key_form = page.get_by_role("form", name="New key")
    key_form.get_by_label(re.compile("^Name")).fill(KEY)
    key_form.get_by_role("button", name="Create key").click()
    once = page.get_by_role("dialog", name=f"Your new key: {KEY}")
    expect(once).to_contain_text("you will not see it again")
    key = once.locator("code.key-plain").inner_text()
    assert key.startswith("sk-omni-")
    screenshot(page, "journey-4-keys")
    once.get_by_role("button", name="I have copied it").click()
    expect(once).to_have_count(0)
    expect(page.locator("tr", has=page.get_by_text(KEY, exact=True))).to_contain_text("active")
    assert key not in page.content()

    # 5. CLI tools: the Claude Code configuration for that key.
    go(page, "CLI tools", "cli-tools")
    page.get_by_role("button", name=re.compile("^Claude Code")).click()
    expect(page.get_by_role("button", name=re.compile("^Claude Code"))).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_label("API key").fill(key)
    page.get_by_label("Model").fill(COMBO)
    page.get_by_role("button", name="Show with this key").click()
    snippet = page.locator("pre.lang-json")
    expect(snippet).to_contain_text(f'"ANTHROPIC_BASE_URL": "{live.url}"')
    expect(snippet).to_contain_text(f'"ANTHROPIC_MODEL": "{COMBO}"')
    expect(snippet).not_to_contain_text(key)  # masked on screen; the copy button has it whole
    expect(page.get_by_text("not an active key of this gateway")).to_have_count(0)
    screenshot(page, "journey-5-cli-tools")

    # 6. A coding tool's request through the combo: seen live in the Translator, then in Usage.
    go(page, "Translator", "translator")
    tab(page, "Live monitor")
    live_panel = page.get_by_role("tabpanel", name="Live monitor")
    expect(live_panel.get_by_role("status")).to_contain_text("Live")
    answer = coding_tool(live, key).chat.completions.create(
        model=COMBO, messages=[{"role": "user", "content": "hello from my editor"}]
    )
    assert answer.choices[0].message.content == "echo: hello from my editor"
    live_rows = live_panel.locator(".live-list tbody tr")
    expect(live_rows).to_have_count(1)
    expect(live_rows.first).to_contain_text(f"combo {COMBO}")
    expect(live_rows.first).to_contain_text("200")
    screenshot(page, "journey-6-live-monitor")

    go(page, "Usage", "usage")
    expect(page.locator(".usage-summary")).to_contain_text("1 request")
    usage_rows = page.get_by_role("table").filter(has_text="Recent requests").locator("tbody tr")
    expect(usage_rows).to_have_count(1)
    expect(usage_rows.first).to_contain_text(KEY)
    expect(usage_rows.first).to_contain_text("gpt-5-mini")
    screenshot(page, "journey-6-usage")

    # 7. Translator: the chat tester answers through the combo; the playground translates.
    go(page, "Translator", "translator")
    tab(page, "Chat tester")
    page.get_by_label("Model").fill(COMBO)
    page.get_by_role("textbox", name="Message").fill("hello tester")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-answer")).to_have_text("echo: hello tester")
    screenshot(page, "journey-7-chat-tester")
    tab(page, "Playground")
    page.get_by_label("Target format").select_option("anthropic")
    page.get_by_role("button", name="Translate").click()
    expect(page.locator("pre.translator-output")).to_contain_text('"max_tokens"')
    expect(page.get_by_text("Translated from OpenAI Chat to Anthropic Messages.")).to_be_visible()
    screenshot(page, "journey-7-playground")

    # 8. Settings: a changed setting is kept across a reload.
    go(page, "Settings", "settings")
    routing = page.get_by_role("form", name="Routing settings")
    routing.get_by_label("Account strategy").select_option("round-robin")
    routing.get_by_role("button", name="Save routing").click()
    expect(routing.get_by_role("status")).to_have_text("Saved")
    page.reload()
    expect(page.locator('.panel[data-panel="settings"] h1').first).to_be_visible()
    routing = page.get_by_role("form", name="Routing settings")
    expect(routing.get_by_label("Account strategy")).to_have_value("round-robin")
    assert live.api("GET", "/api/settings/routing")["accountStrategy"] == "round-robin"
    screenshot(page, "journey-8-settings")

    # 9. Health: the provider answers 429 (the fake's script); the lockout shows, is unlocked.
    live.fake.enqueue(Reply.error(429, "slow down", headers={"retry-after": "120"}))
    with pytest.raises(openai.RateLimitError):
        coding_tool(live, key).chat.completions.create(
            model=COMBO, messages=[{"role": "user", "content": "too fast"}]
        )
    go(page, "Health", "health")
    lockouts = page.locator("section.card").filter(
        has=page.get_by_role("heading", name="Lockouts", exact=True)
    )
    locked = lockouts.get_by_role("row").filter(has_text=PROVIDER)
    expect(locked).to_contain_text("rate limited")
    locked.get_by_role("button", name=f"Unlock {PROVIDER}").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text(f"Unlock {PROVIDER} now?")
    confirm.get_by_role("button", name="Unlock").click()
    expect(lockouts.get_by_text("Nothing is locked out.")).to_be_visible()
    assert live.api("GET", "/api/resilience/lockouts")["lockouts"] == []
    screenshot(page, "journey-9-health")

    # 10. Costs: a budget for the key, with its progress.
    go(page, "Costs", "costs")
    budget = page.get_by_role("form", name="Set a budget")
    budget.get_by_label("Key").select_option(label=KEY)
    budget.get_by_label("Limit (USD)").fill("5")
    budget.get_by_label("Period").select_option("monthly")
    budget.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Budget saved")).to_be_visible()
    expect(page.get_by_role("progressbar", name=f"Budget of {KEY}")).to_be_visible()
    expect(page.get_by_text(re.compile(r"of \$5\.00 spent"))).to_be_visible()
    [stored] = live.api("GET", "/api/usage/budget")["budgets"]
    assert stored["limit"] == 5 and stored["period"] == "monthly"
    assert stored["spent"] > 0  # the coding tool's request was charged to the key
    screenshot(page, "journey-10-costs")
