"""The dashboard's server side, without a browser: the shell page and its headers, which files
may be served, the panel list, panel validation, CSRF and IP rules on the dashboard."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from omniroute import DashboardPanel, hookimpl
from omniroute.dashboard.assets import PackageFiles
from omniroute.plugins import get_plugin_manager


async def get(gateway: Any, path: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.get(gateway.url + path) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_the_shell_page_is_served_at_the_root_with_a_strict_policy(gateway):
    status, headers, body = await get(gateway, "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert (
        b'<script type="module" src="/dashboard/plugins/omniroute.dashboard/static/shell.js">'
        in body
    )
    policy = headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_shell_assets_are_served_with_their_types(gateway):
    status, headers, _ = await get(
        gateway, "/dashboard/plugins/omniroute.dashboard/static/shell.js"
    )
    assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/javascript")
    status, headers, _ = await get(
        gateway, "/dashboard/plugins/omniroute.dashboard/static/style.css"
    )
    assert (status, headers["Content-Type"].split(";")[0]) == (200, "text/css")


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/plugins/omniroute.dashboard/builtin_panels.py",  # not a web file
        "/dashboard/plugins/omniroute.dashboard/static/%2e%2e/routes.py",
        "/dashboard/plugins/omniroute.dashboard/../app.py",
        "/dashboard/plugins/omniroute/app.py",  # a package no panel names
        "/dashboard/plugins/os/static/x.js",
        "/dashboard/plugins/omniroute.dashboard/static/missing.js",
    ],
)
async def test_nothing_outside_the_panels_web_files_is_served(gateway, path):
    status, _, body = await get(gateway, path)
    assert status == 404, body


def test_package_files_refuse_links_out_of_the_package(tmp_path, monkeypatch):
    package = tmp_path / "linky"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (tmp_path / "secret.js").write_text("secret")
    (package / "out.js").symlink_to(tmp_path / "secret.js")
    (package / "in.js").write_text("ok")
    monkeypatch.syspath_prepend(str(tmp_path))
    files = PackageFiles(["linky"])
    assert files.find("linky", "in.js") is not None
    assert files.find("linky", "out.js") is None
    assert files.find("linky", ".hidden.js") is None


async def test_panel_list_needs_a_session_and_gives_the_navigation(gateway):
    status, _, _ = await get(gateway, "/api/dashboard/panels")
    assert status == 401
    status, panels = await gateway.api("GET", "/api/dashboard/panels")
    assert status == 200
    ids = [p["id"] for p in panels]
    assert ids[:3] == ["providers", "combos", "keys"]
    first = panels[0]
    assert first["module"] == "/dashboard/plugins/omniroute.dashboard/static/panels/providers.js"
    assert first["plugin"] == "omniroute.dashboard.builtin_panels"
    assert first["slot"] == "page"


class ThirdPartyPanels:
    @hookimpl
    def register_dashboard_panels(self, register):
        register(
            DashboardPanel(
                id="team",
                title="Team",
                page="omniroute.testing:team.js",
                order=15,
                assets=("omniroute.testing:team.css",),
            )
        )
        register(
            DashboardPanel(
                id="acme-connect",
                title="Connect Acme",
                page="omniroute.testing:acme.js",
                slot="connect:acme",
            )
        )


async def test_third_party_panels_join_the_list_and_their_package_is_served(make_gateway):
    pm = get_plugin_manager()
    pm.register(ThirdPartyPanels(), name="third-party")
    gw = await make_gateway(pm=pm)
    _, panels = await gw.api("GET", "/api/dashboard/panels")
    by_id = {p["id"]: p for p in panels}
    assert [p["id"] for p in panels][:3] == ["providers", "team", "combos"]
    assert by_id["team"]["styles"] == ["/dashboard/plugins/omniroute.testing/team.css"]
    assert by_id["team"]["plugin"] == "third-party"
    assert by_id["acme-connect"]["slot"] == "connect:acme"
    # The package is now served, but only its web files.
    status, _, _ = await get(gw, "/dashboard/plugins/omniroute.testing/fake_openai.py")
    assert status == 404


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"page": "no-package.js"}, "is not 'package:relative/path'"),
        ({"page": "pkg:/abs.js"}, "is not 'package:relative/path'"),
        ({"page": "pkg:../up.js"}, "is not 'package:relative/path'"),
        ({"page": "pkg:ok.js", "assets": ("bad",)}, "is not 'package:relative/path'"),
        ({"page": "pkg:ok.js", "slot": "sidebar"}, "slot must be"),
    ],
)
def test_panels_with_bad_paths_or_slots_are_refused(fields, problem):
    with pytest.raises(ValueError, match=problem):
        DashboardPanel(id="x", title="X", **fields)


async def test_cross_site_writes_are_refused_and_same_site_ones_pass(gateway):
    body = {"name": "csrf-probe"}
    for headers, expected in [
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": gateway.url, "Sec-Fetch-Site": "same-origin"}, 201),
        ({}, 201),  # not a browser: curl, scripts
    ]:
        status, data = await gateway.api("POST", "/api/keys", json=body, headers=headers)
        assert status == expected, (headers, data)
        if expected == 403:
            assert data["error"]["code"] == "cross_site_request"
    status, _ = await gateway.api("GET", "/api/keys", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 200  # reading is not a CSRF risk (and the cookie is SameSite=Lax)


async def test_ip_rules_for_the_management_side_cover_the_dashboard(gateway):
    status, _ = await gateway.api(
        "PATCH", "/api/settings/security", json={"ipRules": {"api": {"allow": ["198.51.100.0/24"]}}}
    )
    assert status == 200
    for path in ("/", "/dashboard/plugins/omniroute.dashboard/static/shell.js"):
        status, _, _ = await get(gateway, path)
        assert status == 403, path
