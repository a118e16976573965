"""The CLI tools panel in a real browser: pick a tool, create a key for it, apply its config
file (under a temporary CLI_TOOLS_HOME) and see what was written and backed up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import LiveGateway, login, screenshot


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("CLI_TOOLS_HOME", str(path))
    return path


def test_create_a_key_for_claude_code_and_apply_it_twice(
    page: Page, live: LiveGateway, home: Path
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    login(page, live, "cli-tools")
    page.get_by_role("button", name=re.compile("^Claude Code")).click()
    expect(page.get_by_role("button", name=re.compile("^Claude Code"))).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_label("Model").fill("coding")

    page.get_by_role("button", name="Create a key for this tool").click()
    expect(page.get_by_text(re.compile("shown only this once"))).to_be_visible()
    key = page.get_by_label("API key").input_value()
    assert key.startswith("sk-omni-")
    names = [k["name"] for k in live.api("GET", "/api/keys")]
    assert any(name.startswith("Claude Code") for name in names)

    snippet = page.locator("pre.lang-json")
    expect(snippet).to_contain_text(f'"ANTHROPIC_BASE_URL": "{live.url}"')
    expect(snippet).to_contain_text('"ANTHROPIC_MODEL": "coding"')
    expect(snippet).not_to_contain_text(key)  # shown masked; the copy button has it whole
    for name in ("Copy file content", "Copy environment", "Copy ANTHROPIC_AUTH_TOKEN"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    page.get_by_role("button", name="Copy file content").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied["env"]["ANTHROPIC_AUTH_TOKEN"] == key

    path = home / ".claude" / "settings.json"
    page.get_by_role("button", name=f"Apply to {path}").click()
    result = page.locator(".cli-result")
    expect(result.locator(".cli-path")).to_have_text(str(path))
    expect(result).to_contain_text("nothing was backed up")
    assert json.loads(path.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == key
    first = path.read_text()

    page.get_by_role("button", name=f"Apply to {path}").click()
    page.get_by_role("button", name="Back up and apply").click()
    backup = result.locator(".cli-backup")
    expect(backup).to_have_text(re.compile(r"settings\.json\.omniroute-backup-\d{8}-\d{6}"))
    assert Path(backup.inner_text()).read_text() == first
    expect(page.get_by_text("exists", exact=True)).to_be_visible()
    screenshot(page, "cli-tools-desktop")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Copy file content")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows
    screenshot(page, "cli-tools-mobile")


def test_a_settings_only_tool_shows_values_to_paste_and_no_apply(
    page: Page, live: LiveGateway, home: Path
) -> None:
    login(page, live, "cli-tools")
    page.get_by_role("button", name=re.compile("^Cursor")).click()
    expect(page.get_by_role("heading", name="Cursor")).to_be_visible()
    expect(page.get_by_text("placeholder")).to_be_visible()
    page.get_by_label("API key").fill("sk-omni-pasted-key-123456")
    page.get_by_role("button", name="Show with this key").click()
    expect(page.get_by_text("not an active key of this gateway")).to_be_visible()
    values = page.locator(".cli-value")
    expect(values.filter(has_text="Base URL").locator("code")).to_have_text(live.url + "/v1")
    expect(values.filter(has_text="API key").locator("code")).to_have_text("sk-omni-pa…")
    expect(page.get_by_role("button", name=re.compile("^Apply"))).to_have_count(0)
    expect(page.get_by_role("button", name="Copy Base URL")).to_be_visible()
    assert list(home.iterdir()) == []


def test_a_file_that_cannot_be_merged_shows_the_reason(
    page: Page, live: LiveGateway, home: Path
) -> None:
    path = home / ".continue" / "config.yaml"
    path.parent.mkdir()
    path.write_text("name: mine\n")
    login(page, live, "cli-tools")
    page.get_by_role("button", name=re.compile("^Continue")).click()
    page.get_by_label("API key").fill("sk-omni-continue-key-1")
    page.get_by_label("Model").fill("coding")
    page.get_by_role("button", name=f"Apply to {path}").click()
    page.get_by_role("button", name="Back up and apply").click()
    reason = page.locator(".cli-apply").get_by_role("alert")
    expect(reason).to_contain_text("config.yaml already exists: add the model entry")
    assert path.read_text() == "name: mine\n"
