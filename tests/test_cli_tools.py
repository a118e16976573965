"""``/api/cli-tools`` and ``omniroute setup``: pointing coding tools at the gateway, and writing
their config files (under a temporary ``CLI_TOOLS_HOME``, never the real home)."""

from __future__ import annotations

import json
import logging
import stat
import tomllib
from pathlib import Path

import pytest
import yaml

from omniroute.tools import PLACEHOLDER_KEY
from tests.test_cli import ok, omniroute


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("CLI_TOOLS_HOME", str(path))
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _read(path: Path) -> str:
    return path.read_text()


async def _render(gateway, tool: str, **body):
    status, data = await gateway.api("POST", f"/api/cli-tools/{tool}/render", json=body)
    assert status == 200, data
    return data


async def _apply(gateway, tool: str, **body):
    status, data = await gateway.api("POST", f"/api/cli-tools/{tool}/apply", json=body)
    assert status == 200, data
    return data


# -- listing and rendering ------------------------------------------------------------------------


async def test_listing_shows_every_tool_for_this_gateway_with_a_placeholder_key(gateway, home):
    status, data = await gateway.api("GET", "/api/cli-tools")
    assert status == 200, data
    assert data["url"] == gateway.url and data["home"] == str(home)
    by_id = {tool["id"]: tool for tool in data["tools"]}
    assert set(by_id) == {
        "claude-code",
        "codex",
        "cursor",
        "openclaw",
        "continue",
        "cline",
        "roocode",
    }
    claude = by_id["claude-code"]
    assert claude["file"] == {
        "path": str(home / ".claude" / "settings.json"),
        "exists": False,
        "holdsKey": True,
    }
    env = json.loads(claude["snippet"]["text"])["env"]
    assert env == {"ANTHROPIC_BASE_URL": gateway.url, "ANTHROPIC_AUTH_TOKEN": PLACEHOLDER_KEY}
    assert by_id["cursor"]["kind"] == "settings" and by_id["cursor"]["file"] is None


async def test_a_public_url_replaces_the_requests_own(gateway, home, monkeypatch):
    monkeypatch.setenv("OMNIROUTE_PUBLIC_URL", "https://ai.example.com/")
    _, data = await gateway.api("GET", "/api/cli-tools")
    assert data["url"] == "https://ai.example.com"


async def test_claude_code_gets_the_root_url_and_the_key_as_a_token(gateway, home):
    key = await gateway.create_key("claude")
    data = await _render(gateway, "claude-code", key=key, model="coding")
    env = json.loads(data["snippet"]["text"])["env"]
    assert env == {
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_MODEL": "coding",
    }
    assert f"export ANTHROPIC_AUTH_TOKEN={key}" in data["env"]
    assert data["keyKnown"] is True


async def test_codex_gets_a_responses_provider_and_reads_the_key_from_the_environment(
    gateway, home
):
    data = await _render(gateway, "codex", key="sk-omni-codex", model="gpt-5")
    config = tomllib.loads(data["snippet"]["text"])
    assert config["model_provider"] == "omniroute" and config["model"] == "gpt-5"
    assert config["model_providers"]["omniroute"] == {
        "name": "OmniRoute",
        "base_url": gateway.url + "/v1",
        "env_key": "OMNIROUTE_API_KEY",
        "wire_api": "responses",
    }
    assert "sk-omni-codex" not in data["snippet"]["text"]
    assert data["env"] == ["export OMNIROUTE_API_KEY=sk-omni-codex"]
    assert data["keyKnown"] is False


async def test_openclaw_gets_an_openai_compatible_provider(gateway, home):
    data = await _render(gateway, "openclaw", key="sk-omni-claw", model="coding")
    config = json.loads(data["snippet"]["text"])
    assert config["models"]["providers"]["omniroute"] == {
        "baseUrl": gateway.url + "/v1",
        "apiKey": "sk-omni-claw",
        "api": "openai-completions",
        "models": [{"id": "coding", "name": "coding"}],
    }
    assert config["agents"]["defaults"]["model"]["primary"] == "omniroute/coding"


async def test_continue_gets_an_openai_model_entry(gateway, home):
    data = await _render(gateway, "continue", key="sk-omni-cont", model="ds/deepseek-chat")
    config = yaml.safe_load(data["snippet"]["text"])
    assert config["schema"] == "v1"
    [model] = config["models"]
    assert model["provider"] == "openai" and model["model"] == "ds/deepseek-chat"
    assert model["apiBase"] == gateway.url + "/v1" and model["apiKey"] == "sk-omni-cont"


@pytest.mark.parametrize("tool", ["cursor", "cline", "roocode"])
async def test_settings_only_tools_get_the_values_to_paste(gateway, home, tool):
    data = await _render(gateway, tool, key="sk-omni-ide")
    values = {item["label"]: item["value"] for item in data["settings"]}
    assert values["Base URL"] == gateway.url + "/v1" and values["API key"] == "sk-omni-ide"
    assert data["snippet"] is None and data["steps"]


# -- applying -------------------------------------------------------------------------------------


async def test_apply_creates_the_file_then_backs_it_up_when_applied_again(gateway, home, caplog):
    caplog.set_level(logging.DEBUG)
    path = home / ".claude" / "settings.json"
    first = await _apply(gateway, "claude-code", key="sk-omni-first-0001")
    assert first == {
        "tool": "claude-code",
        "path": str(path),
        "backupPath": None,
        "created": True,
        "keyKnown": False,
    }
    assert json.loads(path.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-omni-first-0001"
    assert _mode(path) == 0o600
    before = path.read_text()

    second = await _apply(gateway, "claude-code", key="sk-omni-second-0002", model="m")
    backup = Path(second["backupPath"])
    assert backup.parent == path.parent
    assert backup.name.startswith("settings.json.omniroute-backup-")
    assert _read(backup) == before and _mode(backup) == 0o600
    assert json.loads(path.read_text())["env"]["ANTHROPIC_AUTH_TOKEN"] == "sk-omni-second-0002"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert "sk-omni-first-0001" not in caplog.text and "sk-omni-second-0002" not in caplog.text

    _, listing = await gateway.api("GET", "/api/cli-tools")
    claude = next(t for t in listing["tools"] if t["id"] == "claude-code")
    assert claude["file"]["exists"] is True


async def test_claude_code_merge_keeps_unrelated_settings(gateway, home):
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    path.write_text(
        json.dumps(
            {
                "permissions": {"allow": ["Bash(ls:*)"]},
                "env": {"DEBUG": "1", "ANTHROPIC_API_KEY": "sk-ant-old"},
            }
        )
    )
    await _apply(gateway, "claude-code", key="sk-omni-merge")
    data = json.loads(path.read_text())
    assert data["permissions"] == {"allow": ["Bash(ls:*)"]}
    assert data["env"] == {
        "DEBUG": "1",
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_AUTH_TOKEN": "sk-omni-merge",
    }


async def test_codex_merge_keeps_the_rest_and_replaces_our_provider(gateway, home):
    path = home / ".codex" / "config.toml"
    path.parent.mkdir()
    path.write_text(
        "# my Codex settings\n"
        'approval_policy = "on-request"\n\n'
        "[model_providers.other]\n"
        'base_url = "http://other/v1"\n\n'
        "[model_providers.omniroute]\n"
        'base_url = "http://old/v1"\n'
        'stale = "yes"\n'
    )
    path.chmod(0o644)
    await _apply(gateway, "codex", key="sk-omni-codex", model="coding")
    text = path.read_text()
    config = tomllib.loads(text)
    assert "# my Codex settings" in text
    assert config["approval_policy"] == "on-request"
    assert config["model_providers"]["other"] == {"base_url": "http://other/v1"}
    assert config["model_providers"]["omniroute"]["base_url"] == gateway.url + "/v1"
    assert "stale" not in config["model_providers"]["omniroute"]
    assert config["model_provider"] == "omniroute" and config["model"] == "coding"
    assert _mode(path) == 0o644  # holds no key: keeps its mode


async def test_openclaw_merge_keeps_other_providers(gateway, home):
    path = home / ".openclaw" / "openclaw.json"
    path.parent.mkdir()
    other = {"baseUrl": "http://127.0.0.1:11434/v1", "api": "ollama", "models": []}
    path.write_text(json.dumps({"models": {"providers": {"ollama": other}}, "channels": {}}))
    await _apply(gateway, "openclaw", key="sk-omni-claw")
    data = json.loads(path.read_text())
    assert data["channels"] == {} and data["models"]["providers"]["ollama"] == other
    assert data["models"]["providers"]["omniroute"]["apiKey"] == "sk-omni-claw"


async def test_a_file_that_cannot_be_merged_is_left_alone(gateway, home):
    path = home / ".continue" / "config.yaml"
    path.parent.mkdir()
    path.write_text("name: mine\nmodels: []\n")
    status, data = await gateway.api(
        "POST", "/api/cli-tools/continue/apply", json={"key": "k", "model": "m"}
    )
    assert status == 409 and data["error"]["code"] == "cannot_merge"
    assert path.read_text() == "name: mine\nmodels: []\n"
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]


@pytest.mark.parametrize(
    ("tool", "body", "status", "param"),
    [
        ("cursor", {"key": "k"}, 400, None),
        ("claude-code", {}, 400, "key"),
        ("claude-code", {"key": "k\nEVIL=1"}, 400, "key"),
        ("claude-code", {"key": "k", "url": "ftp://x"}, 400, "url"),
        ("claude-code", {"key": "k", "colour": "red"}, 400, "colour"),
        ("continue", {"key": "k"}, 400, "model"),
        ("nope", {"key": "k"}, 404, None),
    ],
)
async def test_bad_requests_are_refused_naming_the_field(gateway, home, tool, body, status, param):
    got, data = await gateway.api("POST", f"/api/cli-tools/{tool}/apply", json=body)
    assert got == status and data["error"]["param"] == param
    assert list(home.iterdir()) == []


# -- the command line -----------------------------------------------------------------------------


async def test_setup_writes_the_same_file_as_the_api(gateway, home):
    await _apply(gateway, "claude-code", key="sk-omni-same", model="m", url="http://gw:1")
    from_api = (home / ".claude" / "settings.json").read_text()
    (home / ".claude" / "settings.json").unlink()
    output = ok(
        "setup", "claude-code", "--key", "sk-omni-same", "--model", "m", "--url", "http://gw:1"
    )
    assert f"wrote {home / '.claude' / 'settings.json'}" in output
    assert (home / ".claude" / "settings.json").read_text() == from_api


def test_setup_create_key_makes_a_key_and_writes_it(tmp_path, home):
    output = ok("setup", "codex", "--create-key", "--url", "http://gw:2", data_dir=tmp_path)
    assert "export OMNIROUTE_API_KEY=sk-omni-" in output
    [key] = json.loads(ok("keys", "list", "--json", data_dir=tmp_path))
    assert key["name"] == "codex"
    config = tomllib.loads((home / ".codex" / "config.toml").read_text())
    assert config["model_providers"]["omniroute"]["base_url"] == "http://gw:2/v1"


def test_setup_print_shows_and_writes_nothing(home):
    output = ok("setup", "openclaw", "--key", "sk-omni-print", "--url", "http://gw:3", "--print")
    assert '"apiKey": "sk-omni-print"' in output and '"baseUrl": "http://gw:3/v1"' in output
    assert list(home.iterdir()) == []


def test_setup_without_a_key_says_what_to_give(home):
    result = omniroute("setup", "claude-code")
    assert result.exit_code != 0 and "--create-key" in result.output
    assert list(home.iterdir()) == []
