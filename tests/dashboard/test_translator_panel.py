"""The Translator page in a real browser: the playground translates and detects, the chat
tester sends a message through the gateway and shows its four hops, the test bench runs the
round trips, and the live monitor shows requests as they pass through the gateway."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

from playwright.sync_api import Page, expect

from omniroute.appkeys import GATEWAY
from tests.dashboard.conftest import LiveGateway, login, open_panel, screenshot


def _tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    expect(page.get_by_role("tab", name=name)).to_have_attribute("aria-selected", "true")


def _send_through_gateway(live: LiveGateway, model: str, text: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    request = urllib.request.Request(
        live.url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def test_playground_translates_an_openai_request_to_anthropic(
    page: Page, live: LiveGateway
) -> None:
    login(page, live, "translator")
    expect(page.get_by_label("Source format")).to_have_value("openai")
    page.get_by_label("Target format").select_option("anthropic")
    page.get_by_role("button", name="Translate").click()
    output = page.locator("pre.translator-output")
    expect(output).to_contain_text('"max_tokens": 256')
    expect(output).to_contain_text('"messages"')
    expect(output).to_contain_text('"system"')
    expect(page.get_by_text("Translated from OpenAI Chat to Anthropic Messages.")).to_be_visible()
    screenshot(page, "translator-desktop")
    screenshot(page, "translator-playground")


def test_playground_detects_a_format_and_shows_api_errors_in_place(
    page: Page, live: LiveGateway
) -> None:
    login(page, live, "translator")
    body = page.get_by_label("Request body (JSON)")
    body.fill(json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}))
    page.get_by_role("button", name="Detect format").click()
    expect(page.get_by_text("Detected format: Gemini (gemini).")).to_be_visible()
    expect(page.get_by_label("Source format")).to_have_value("gemini")

    body.fill('{"neither": "fish nor fowl"}')
    page.get_by_role("button", name="Detect format").click()
    form = page.get_by_role("form", name="Translate a request")
    expect(form.locator(".field-error")).to_contain_text("cannot tell the format")
    expect(body).to_have_attribute("aria-invalid", "true")


def test_modes_are_tabs_the_keyboard_moves_between(page: Page, live: LiveGateway) -> None:
    login(page, live, "translator")
    page.get_by_role("tab", name="Playground").focus()
    page.keyboard.press("ArrowRight")
    chat = page.get_by_role("tab", name="Chat tester")
    expect(chat).to_be_focused()
    expect(chat).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="Chat tester")).to_be_visible()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Live monitor")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Playground")).to_have_attribute("aria-selected", "true")


def test_chat_tester_sends_through_the_gateway_and_shows_four_hops(
    page: Page, live: LiveGateway
) -> None:
    live.connect_fake("translator-fake")
    before = len(live.fake.requests)
    login(page, live, "translator")
    _tab(page, "Chat tester")
    page.get_by_label("Client format").select_option("anthropic")
    page.get_by_label("Model").fill("openai/gpt-4o")
    page.get_by_role("textbox", name="Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".chat-answer")).to_have_text("echo: hello")
    expect(page.get_by_text("translated anthropic → openai")).to_be_visible()
    hops = page.locator("details.hop summary strong")
    expect(hops).to_have_text(
        [
            re.compile("^1. Client → gateway"),
            re.compile("^2. Gateway → provider"),
            re.compile("^3. Provider → gateway"),
            re.compile("^4. Gateway → client"),
        ]
    )
    hop_bodies = page.locator("details.hop pre")
    expect(hop_bodies.nth(0)).to_contain_text('"max_tokens": 1024')
    expect(hop_bodies.nth(1)).to_contain_text('"role": "user"')
    expect(hop_bodies.nth(2)).to_contain_text('"chat.completion"')
    expect(hop_bodies.nth(3)).to_contain_text('"type": "message"')
    assert len(live.fake.requests) == before + 1
    assert live.fake.requests[-1].json["messages"][-1]["content"] == "hello"
    screenshot(page, "translator-chat")


def test_chat_tester_shows_a_routing_error_on_the_model_field(
    page: Page, live: LiveGateway
) -> None:
    login(page, live, "translator")
    _tab(page, "Chat tester")
    page.get_by_label("Model").fill("nowhere-at-all/x")
    page.get_by_role("textbox", name="Message").fill("hello")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_label("Model")).to_have_attribute("aria-invalid", "true")


def test_test_bench_runs_the_sixteen_round_trips(page: Page, live: LiveGateway) -> None:
    login(page, live, "translator")
    _tab(page, "Test bench")
    page.get_by_label("Sample request").select_option("tool")
    page.get_by_role("button", name="Run selected").click()
    expect(page.locator(".bench-count")).to_have_text("Passed 16 of 16", timeout=20_000)
    expect(page.locator(".bench-result .badge-ok")).to_have_count(16)
    screenshot(page, "translator-bench")

    page.get_by_role("button", name="Select none").click()
    page.get_by_label("openai to gemini").check()
    page.get_by_role("button", name="Run selected").click()
    expect(page.locator(".bench-count")).to_have_text("Passed 1 of 1")


def test_live_monitor_shows_requests_through_the_gateway(page: Page, live: LiveGateway) -> None:
    live.connect_fake("translator-live")
    login(page, live, "translator")
    _tab(page, "Live monitor")
    status = page.get_by_role("tabpanel", name="Live monitor").get_by_role("status")
    expect(status).to_contain_text("Live")

    _send_through_gateway(live, "openai/gpt-4o-mini", "watch me")
    rows = page.locator(".live-list tbody tr")
    expect(rows.first).to_contain_text("gpt-4o-mini", timeout=5_000)
    expect(rows.first).to_contain_text("openai · chat")
    expect(rows.first).to_contain_text("200")

    page.get_by_role("button", name="Pause").click()
    _send_through_gateway(live, "openai/gpt-4.1", "while paused")
    expect(status).to_contain_text("1 new request held")
    expect(rows).to_have_count(1)
    page.get_by_role("button", name="Resume").click()
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("gpt-4.1")
    screenshot(page, "translator-live")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "translator-mobile")

    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_text("No requests yet")).to_be_visible()


def test_leaving_the_page_closes_the_live_stream(page: Page, live: LiveGateway) -> None:
    ledger = live.app[GATEWAY].ledger
    login(page, live, "translator")
    _tab(page, "Live monitor")
    expect(page.get_by_role("tabpanel", name="Live monitor").get_by_role("status")).to_contain_text(
        "Live"
    )
    open_panel(page, "usage")

    async def listeners_gone() -> int:
        for _ in range(100):
            if not ledger.listeners:
                break
            await asyncio.sleep(0.05)
        return len(ledger.listeners)

    assert live.run(listeners_gone()) == 0
