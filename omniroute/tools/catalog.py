"""The coding tools OmniRoute can set up, and how each one is pointed at the gateway: the values
to type into its settings, the environment lines, and — for tools configured by a file — the
file's path under the home directory and its content."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from omniroute.errors import BadRequest
from omniroute.tools import configs
from omniroute.tools.configs import Target

#: What the listing shows in place of a key (the plain key is known only at creation).
PLACEHOLDER_KEY = "<your OmniRoute key>"


@dataclass(frozen=True)
class ConfigFile:
    """A tool's configuration file: ``path`` relative to the home directory."""

    path: str
    language: str
    holds_key: bool
    render: Callable[[Target], str]
    merge: Callable[[str, Target], str]


@dataclass(frozen=True)
class Tool:
    """One coding tool: how a person points it at the gateway."""

    id: str
    name: str
    description: str
    steps: tuple[str, ...]
    settings: Callable[[Target], list[tuple[str, str]]]
    env: Callable[[Target], dict[str, str]] = field(default=lambda _target: {})
    config: ConfigFile | None = None
    requires_model: bool = False
    note: str = ""


def _openai_settings(target: Target) -> list[tuple[str, str]]:
    return [
        ("Base URL", target.v1),
        ("API key", target.key),
        ("Model", target.model or "any model /v1/models lists, e.g. a combo's name"),
    ]


def _vscode_steps(name: str) -> tuple[str, ...]:
    return (
        f"Open {name}'s settings (the gear in its sidebar panel).",
        "Set API Provider to 'OpenAI Compatible'.",
        "Paste the Base URL and the API key below, and type the Model ID.",
    )


TOOLS: tuple[Tool, ...] = (
    Tool(
        id="claude-code",
        name="Claude Code",
        description="Anthropic's coding agent, speaking the Messages API to the gateway.",
        steps=(
            "Apply below to write ~/.claude/settings.json (other settings are kept), or",
            "export the environment lines in your shell before running `claude`.",
        ),
        settings=lambda t: [
            ("ANTHROPIC_BASE_URL", t.url),
            ("ANTHROPIC_AUTH_TOKEN", t.key),
            ("ANTHROPIC_MODEL", t.model or "(optional) any model or combo name"),
        ],
        env=configs.claude_env,
        config=ConfigFile(
            ".claude/settings.json", "json", True, configs.claude_render, configs.claude_merge
        ),
        note="ANTHROPIC_API_KEY is removed from the file's env block: Claude Code prefers it "
        "over the token.",
    ),
    Tool(
        id="codex",
        name="Codex CLI",
        description="OpenAI's coding agent, speaking the Responses API to the gateway.",
        steps=(
            "Apply below to add the 'omniroute' model provider to ~/.codex/config.toml "
            "(the rest of the file is kept).",
            f"Codex reads the key from {configs.CODEX_KEY_ENV}: add the export line to your "
            "shell profile.",
        ),
        settings=lambda t: [
            ("base_url", t.v1),
            ("wire_api", "responses"),
            (configs.CODEX_KEY_ENV, t.key),
        ],
        env=lambda t: {configs.CODEX_KEY_ENV: t.key},
        config=ConfigFile(
            ".codex/config.toml", "toml", False, configs.codex_render, configs.codex_merge
        ),
    ),
    Tool(
        id="cursor",
        name="Cursor",
        description="Configured in Cursor's settings; there is no file to write.",
        steps=(
            "Open Cursor Settings → Models.",
            "Under API Keys, paste the key as the OpenAI API Key.",
            "Turn on 'Override OpenAI Base URL' and paste the Base URL.",
            "Add the model name as a custom model and select it.",
        ),
        settings=_openai_settings,
    ),
    Tool(
        id="openclaw",
        name="OpenClaw",
        description="Adds an 'omniroute' provider (OpenAI-compatible) to OpenClaw.",
        steps=(
            "Apply below to merge the provider into ~/.openclaw/openclaw.json, or paste the "
            "snippet into it yourself.",
            "A file written in JSON5 (comments, trailing commas) is not merged: paste by hand.",
        ),
        settings=_openai_settings,
        config=ConfigFile(
            ".openclaw/openclaw.json",
            "json",
            True,
            configs.openclaw_render,
            configs.openclaw_merge,
        ),
    ),
    Tool(
        id="continue",
        name="Continue",
        description="VS Code / JetBrains extension; a model entry in ~/.continue/config.yaml.",
        steps=(
            "Apply below to create ~/.continue/config.yaml when you have none.",
            "If you already have one, add the model entry of the snippet to its 'models' list.",
        ),
        settings=_openai_settings,
        config=ConfigFile(
            ".continue/config.yaml",
            "yaml",
            True,
            configs.continue_render,
            configs.continue_merge,
        ),
        requires_model=True,
    ),
    Tool(
        id="cline",
        name="Cline",
        description="VS Code extension, configured in its settings panel.",
        steps=_vscode_steps("Cline"),
        settings=_openai_settings,
    ),
    Tool(
        id="roocode",
        name="Roo Code",
        description="VS Code extension, configured in its settings panel.",
        steps=_vscode_steps("Roo Code"),
        settings=_openai_settings,
    ),
)

BY_ID = {tool.id: tool for tool in TOOLS}


def get_tool(tool_id: str) -> Tool | None:
    """The tool with this id, or None."""
    return BY_ID.get(tool_id)


# -- validation ---------------------------------------------------------------------------------


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{name}' must be a non-empty string", param=name)
    value = value.strip()
    if len(value) > limit or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise BadRequest(
            f"'{name}' must be at most {limit} characters, without control characters",
            param=name,
        )
    return value


def check_url(value: Any) -> str:
    """The gateway's root URL, without a trailing slash or ``/v1``."""
    url = _text(value, "url", 500).rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise BadRequest("'url' must be an http:// or https:// URL", param="url")
    return url


def make_target(url: str, key: Any, model: Any = None) -> Target:
    """Validate what a person chose; control characters would break env lines and files."""
    checked_key = _text(key, "key", 500)
    checked_model = None if model in (None, "") else _text(model, "model", 200)
    return Target(check_url(url), checked_key, checked_model)


# -- what the API and the CLI show --------------------------------------------------------------


def env_lines(tool: Tool, target: Target) -> list[str]:
    """``export NAME=value`` lines, quoted for a POSIX shell."""
    return [f"export {name}={shlex.quote(value)}" for name, value in tool.env(target).items()]


def describe(tool: Tool, target: Target, home: Path) -> dict[str, Any]:
    """The tool as the dashboard shows it, rendered for ``target``."""
    answer: dict[str, Any] = {
        "id": tool.id,
        "name": tool.name,
        "description": tool.description,
        "kind": "file" if tool.config else "settings",
        "steps": list(tool.steps),
        "settings": [
            {"label": label, "value": value, "secret": value == target.key}
            for label, value in tool.settings(target)
        ],
        "env": env_lines(tool, target),
        "requiresModel": tool.requires_model,
        "note": tool.note,
        "snippet": None,
        "file": None,
    }
    if tool.config:
        path = home / tool.config.path
        answer["snippet"] = {"language": tool.config.language, "text": tool.config.render(target)}
        answer["file"] = {
            "path": str(path),
            "exists": path.exists(),
            "holdsKey": tool.config.holds_key,
        }
    return answer
