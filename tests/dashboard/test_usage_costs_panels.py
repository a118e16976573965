"""The Usage and Costs panels in a real browser: charts and the request table show traffic sent
through the gateway, filters narrow them, CSV export downloads those rows; budgets show their
progress and can be set and removed; prices can be overridden, kept, refused and reset."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import LiveGateway, login, open_panel, screenshot

KEY_NAME = "usage-panel-key"


def chat(live: LiveGateway, model: str, key: str | None = None) -> None:
    """One chat completion through the gateway's front door."""
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    request = urllib.request.Request(
        live.url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=30) as resp:
        assert resp.status == 200


@pytest.fixture(scope="module")
def traffic(live: LiveGateway) -> dict[str, Any]:
    """Three requests to openai/gpt-5 with a client key, two to gpt-5-mini without one."""
    live.connect_fake("usage-panel-fake")
    created = live.api("POST", "/api/keys", {"name": KEY_NAME})
    for _ in range(3):
        chat(live, "openai/gpt-5", created["key"])
    for _ in range(2):
        chat(live, "openai/gpt-5-mini")
    return {"keyId": created["id"]}


def usage_table(page: Page):
    return page.get_by_role("table").filter(has_text="Recent requests").locator("tbody tr")


def test_usage_charts_and_table_show_the_requests_sent(
    page: Page, live: LiveGateway, traffic: dict[str, Any]
) -> None:
    login(page, live, "usage")
    expect(page.locator(".usage-summary")).to_contain_text("5 requests")
    requests_chart = page.get_by_role("region", name="Requests")
    expect(requests_chart.locator(".chart-total")).to_have_text("5")
    expect(requests_chart.locator(".legend li")).to_have_text([re.compile(r"openai\s*5")])
    expect(page.get_by_role("region", name="Cost").locator(".chart-total")).to_have_text(
        re.compile(r"^\$0\.\d+$")
    )
    expect(usage_table(page)).to_have_count(5)
    expect(page.get_by_text("Showing 5 of 5 matching requests.")).to_be_visible()

    page.get_by_label("Group charts by").select_option("model")
    expect(requests_chart.locator(".legend li")).to_have_text(
        [re.compile(r"openai/gpt-5\s*3"), re.compile(r"openai/gpt-5-mini\s*2")]
    )
    page.get_by_label("Group charts by").select_option("key")
    expect(requests_chart.locator(".legend li")).to_have_text(
        [re.compile(f"{KEY_NAME}\\s*3"), re.compile(r"No key\s*2")]
    )
    screenshot(page, "usage-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(usage_table(page)).to_have_count(5)
    screenshot(page, "usage-mobile")

    # A request sent meanwhile appears on Refresh (a model the other tests do not count).
    chat(live, "openai/gpt-5-nano")
    page.get_by_role("button", name="Refresh").click()
    expect(page.locator(".usage-summary")).to_contain_text("6 requests")
    expect(usage_table(page)).to_have_count(6)


def test_filtering_by_model_narrows_the_table_and_the_csv_export(
    page: Page, live: LiveGateway, traffic: dict[str, Any]
) -> None:
    login(page, live, "usage")
    total = live.api("GET", "/api/usage/history")["total"]
    expect(usage_table(page)).to_have_count(total)
    page.get_by_label("Model", exact=True).select_option("gpt-5-mini")
    expect(usage_table(page)).to_have_count(2)
    expect(usage_table(page).get_by_role("cell", name="gpt-5-mini", exact=True)).to_have_count(2)
    expect(page.locator(".usage-summary")).to_contain_text("2 requests")

    with page.expect_download() as info:
        page.get_by_role("link", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8") as f:
        rows = list(csv.DictReader(io.StringIO(f.read())))
    assert [r["model"] for r in rows] == ["gpt-5-mini", "gpt-5-mini"]


def test_a_budget_shows_its_progress_and_can_be_removed(
    page: Page, live: LiveGateway, traffic: dict[str, Any]
) -> None:
    login(page, live, "costs")
    expect(page.get_by_text("No budgets")).to_be_visible()
    form = page.get_by_role("form", name="Set a budget")
    form.get_by_label("Key").select_option(label=KEY_NAME)
    form.get_by_label("Limit (USD)").fill("5")
    form.get_by_label("Period").select_option("monthly")
    form.get_by_role("button", name="Save budget").click()
    expect(page.get_by_text("Budget saved")).to_be_visible()
    bar = page.get_by_role("progressbar", name=f"Budget of {KEY_NAME}")
    expect(bar).to_have_class("progress")
    expect(page.get_by_text(re.compile(r"of \$5\.00 spent"))).to_be_visible()
    [budget] = live.api("GET", f"/api/usage/budget?keyId={traffic['keyId']}")["budgets"]
    assert budget["limit"] == 5 and budget["period"] == "monthly" and budget["spent"] > 0

    # Edit fills the form with the budget.
    page.get_by_role("button", name=f"Edit budget of {KEY_NAME}").click()
    expect(form.get_by_label("Limit (USD)")).to_have_value("5")

    # Past 80 % of the limit the bar warns.
    form.get_by_label("Limit (USD)").fill(str(budget["spent"] / 0.9))
    form.get_by_role("button", name="Save budget").click()
    expect(bar).to_have_attribute("aria-valuenow", "90")
    expect(bar).to_have_class(re.compile(r"\bwarn\b"))

    # A limit below what the key already spent: the bar is full and says so.
    form.get_by_label("Limit (USD)").fill(str(budget["spent"] / 2))
    form.get_by_role("button", name="Save budget").click()
    expect(bar).to_have_class(re.compile(r"\bbad\b"))
    expect(bar).to_have_attribute("aria-valuenow", "200")
    expect(page.get_by_text("exceeded", exact=True)).to_be_visible()

    # Bad input: the API's message next to the field.
    form.get_by_label("Limit (USD)").fill("-3")
    form.get_by_role("button", name="Save budget").click()
    expect(form.locator(".field-error")).to_contain_text("greater than or equal to 0")

    screenshot(page, "costs-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "costs-mobile")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name=f"Remove budget of {KEY_NAME}").click()
    page.get_by_role("button", name="Cancel").click()
    expect(bar).to_be_visible()
    page.get_by_role("button", name=f"Remove budget of {KEY_NAME}").click()
    page.get_by_role("button", name="Remove budget", exact=True).click()
    expect(page.get_by_text("No budgets")).to_be_visible()
    assert live.api("GET", "/api/usage/budget")["budgets"] == []


def price_row(page: Page, model: str):
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=model, exact=True))


def test_a_price_override_is_kept_refused_when_bad_and_reset(
    page: Page, live: LiveGateway, traffic: dict[str, Any]
) -> None:
    login(page, live, "costs")
    page.get_by_label("Search models").fill("openai/gpt-5-mini")
    row = price_row(page, "gpt-5-mini")
    expect(row).to_have_count(1)
    page.get_by_role("button", name="Edit price of openai/gpt-5-mini").click()
    dialog = page.get_by_role("dialog", name="Price of openai/gpt-5-mini")
    dialog.get_by_label("Input ($ / 1M tokens)", exact=True).fill("0.123")
    dialog.get_by_role("button", name="Save price").click()
    expect(dialog).to_have_count(0)
    expect(row.get_by_role("cell", name="$0.123")).to_be_visible()

    page.reload()
    page.locator('.panel[data-panel="costs"] h1').wait_for()
    page.get_by_label("Search models").fill("openai/gpt-5-mini")
    expect(price_row(page, "gpt-5-mini").get_by_role("cell", name="$0.123")).to_be_visible()
    prices = live.api("GET", "/api/pricing?provider=openai")["prices"]
    [mini] = [p for p in prices if p["model"] == "gpt-5-mini"]
    assert mini["override"]["input"] == 0.123

    page.get_by_role("button", name="Edit price of openai/gpt-5-mini").click()
    dialog.get_by_label("Output ($ / 1M tokens)").fill("-1")
    dialog.get_by_role("button", name="Save price").click()
    error = dialog.get_by_role("alert")
    expect(error).to_contain_text("greater than or equal to 0")
    expect(dialog.get_by_label("Output ($ / 1M tokens)")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_role("button", name="Close").click()

    page.get_by_role("button", name="Reset price of openai/gpt-5-mini").click()
    page.get_by_role("button", name="Reset price", exact=True).click()
    expect(page.get_by_role("button", name="Reset price of openai/gpt-5-mini")).to_have_count(0)
    prices = live.api("GET", "/api/pricing?provider=openai")["prices"]
    [mini] = [p for p in prices if p["model"] == "gpt-5-mini"]
    assert mini["override"] is None


def test_moving_from_costs_to_usage_leaves_no_error(page: Page, live: LiveGateway) -> None:
    login(page, live, "costs")
    open_panel(page, "usage")
    expect(page.locator(".panel-error")).to_have_count(0)
