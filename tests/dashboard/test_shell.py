"""The dashboard shell in a real browser: login, navigation from registered panels, every
built-in panel loads, logout, and a panel that fails to load leaves the others working."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from omniroute.dashboard.builtin_panels import BUILTIN_PANELS
from tests.dashboard.conftest import LiveGateway, login, open_panel, screenshot


def test_login_is_required_and_a_wrong_password_says_so(page: Page, live: LiveGateway) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="OmniRoute")).to_be_visible()
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("form", name="Log in").get_by_text("wrong password")).to_be_visible()
    expect(page.get_by_role("navigation", name="Dashboard")).to_have_count(0)
    screenshot(page, "login")


def test_navigation_lists_every_page_panel_in_order_and_shows_who(
    page: Page, live: LiveGateway
) -> None:
    login(page, live)
    links = page.get_by_role("navigation", name="Dashboard").get_by_role("link")
    expect(links).to_have_text([panel.title for panel in BUILTIN_PANELS])
    expect(page.get_by_text("Signed in as admin")).to_be_visible()


def test_every_builtin_panel_loads_with_its_heading(page: Page, live: LiveGateway) -> None:
    login(page, live)
    for panel in BUILTIN_PANELS:
        open_panel(page, panel.id)
        expect(page.locator(".panel-error")).to_have_count(0)
        expect(page).to_have_title(re.compile(f"^{re.escape(panel.title)}"))


def test_keyboard_reaches_the_navigation_and_opens_a_panel(page: Page, live: LiveGateway) -> None:
    login(page, live)
    page.get_by_role("link", name="API keys").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#/keys$"))
    expect(page.get_by_role("link", name="API keys")).to_have_attribute("aria-current", "page")


def test_logout_returns_to_the_login_form(page: Page, live: LiveGateway) -> None:
    login(page, live)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Password")).to_be_visible()


def test_a_panel_that_fails_to_load_is_reported_and_the_others_still_work(
    page: Page, live: LiveGateway
) -> None:
    login(page, live)
    # Break one panel's module on the wire; the shell must report it in place.
    page.route(
        "**/static/panels/usage.js",
        lambda route: route.fulfill(
            status=200, content_type="text/javascript", body="export default {};"
        ),
    )
    open_panel(page, "usage")
    alert = page.locator(".panel-error")
    expect(alert).to_contain_text("could not be loaded")
    expect(alert).to_contain_text("mount(root, ctx)")
    open_panel(page, "keys")
    expect(page.locator(".panel-error")).to_have_count(0)


def test_the_session_ending_brings_back_the_login_form(page: Page, live: LiveGateway) -> None:
    login(page, live, "keys")
    page.context.clear_cookies()
    open_panel_without_waiting = page.get_by_role("link", name="Providers")
    open_panel_without_waiting.click()
    expect(page.get_by_text("Your session ended")).to_be_visible()


def test_narrow_screens_get_a_menu_button(page: Page, live: LiveGateway) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, live)
    nav = page.get_by_role("navigation", name="Dashboard")
    expect(nav).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(nav).to_be_visible()
    nav.get_by_role("link", name="Health").click()
    expect(nav).to_be_hidden()
    page.locator('.panel[data-panel="health"] h1').first.wait_for()
    screenshot(page, "shell-mobile")
