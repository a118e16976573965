"""What each coding tool's configuration file looks like when pointed at the gateway: a
``render`` (the content of a fresh file, also the ready-to-copy snippet) and a ``merge`` (the
existing file with our part replaced and everything else kept) per file format.

Pure functions over text: nothing here touches the disk (``apply.py`` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import tomlkit

#: The id our entries carry in the tools' files (Codex provider, OpenClaw provider).
PROVIDER_ID = "omniroute"
#: The environment variable Codex reads the key from (``env_key``).
CODEX_KEY_ENV = "OMNIROUTE_API_KEY"


class CannotMerge(Exception):
    """The existing file cannot be merged safely; the user should add the snippet by hand."""


@dataclass(frozen=True)
class Target:
    """Where a tool should send its requests: the gateway's root URL (no ``/v1``), the client
    key and, optionally, the model the tool should ask for."""

    url: str
    key: str
    model: str | None = None

    @property
    def v1(self) -> str:
        """The OpenAI-style base URL."""
        return self.url + "/v1"


# -- Claude Code: ~/.claude/settings.json, an "env" block --------------------------------------


def claude_env(target: Target) -> dict[str, str]:
    """The environment Claude Code needs: no ``/v1`` (it appends ``/v1/messages``)."""
    env = {"ANTHROPIC_BASE_URL": target.url, "ANTHROPIC_AUTH_TOKEN": target.key}
    if target.model:
        env["ANTHROPIC_MODEL"] = target.model
    return env


def claude_render(target: Target) -> str:
    return json.dumps({"env": claude_env(target)}, indent=2) + "\n"


def _json_object(text: str, path: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise CannotMerge(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise CannotMerge(f"{path} does not hold a JSON object")
    return data


def claude_merge(text: str, target: Target) -> str:
    """Set our variables in ``env``, keeping every other key. ``ANTHROPIC_API_KEY`` is
    dropped from ``env``: Claude Code prefers it over the token, so it would bypass ours."""
    data = _json_object(text, "~/.claude/settings.json")
    env = data.get("env")
    if env is None:
        env = {}
    if not isinstance(env, dict):
        raise CannotMerge("~/.claude/settings.json has an 'env' that is not an object")
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(claude_env(target))
    data["env"] = env
    return json.dumps(data, indent=2) + "\n"


# -- Codex CLI: ~/.codex/config.toml, our own model provider -----------------------------------


def _codex_provider() -> Any:
    table = tomlkit.table()
    table["name"] = "OmniRoute"
    table["wire_api"] = "responses"
    table["env_key"] = CODEX_KEY_ENV
    return table


def codex_render(target: Target) -> str:
    doc = tomlkit.document()
    doc["model_provider"] = PROVIDER_ID
    if target.model:
        doc["model"] = target.model
    providers = tomlkit.table(is_super_table=True)
    table = _codex_provider()
    table["base_url"] = target.v1
    providers[PROVIDER_ID] = table
    doc["model_providers"] = providers
    return tomlkit.dumps(doc)


def codex_merge(text: str, target: Target) -> str:
    """Select our provider and replace its table; the rest of the file (comments included)
    stays as it was. The key is not written: Codex reads it from ``OMNIROUTE_API_KEY``."""
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise CannotMerge(f"~/.codex/config.toml is not valid TOML ({exc})") from None
    doc["model_provider"] = PROVIDER_ID
    if target.model:
        doc["model"] = target.model
    providers = doc.get("model_providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["model_providers"] = providers
    elif not isinstance(providers, dict):
        raise CannotMerge("~/.codex/config.toml has a 'model_providers' that is not a table")
    table = _codex_provider()
    table["base_url"] = target.v1
    providers[PROVIDER_ID] = table
    return tomlkit.dumps(doc)


# -- OpenClaw: ~/.openclaw/openclaw.json, models.providers.omniroute ---------------------------


def openclaw_provider(target: Target) -> dict[str, Any]:
    models = [{"id": target.model, "name": target.model}] if target.model else []
    return {
        "baseUrl": target.v1,
        "apiKey": target.key,
        "api": "openai-completions",
        "models": models,
    }


def openclaw_render(target: Target) -> str:
    data: dict[str, Any] = {"models": {"providers": {PROVIDER_ID: openclaw_provider(target)}}}
    if target.model:
        data["agents"] = {"defaults": {"model": {"primary": f"{PROVIDER_ID}/{target.model}"}}}
    return json.dumps(data, indent=2) + "\n"


def _child(parent: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    child = parent.setdefault(name, {})
    if not isinstance(child, dict):
        raise CannotMerge(f"~/.openclaw/openclaw.json: '{path}' is not an object")
    return child


def openclaw_merge(text: str, target: Target) -> str:
    """Replace our provider under ``models.providers`` (and, with a model, make it the
    primary one); everything else is kept. A file in JSON5 (comments, trailing commas) is
    left alone: the user adds the snippet by hand."""
    try:
        data = _json_object(text, "~/.openclaw/openclaw.json")
    except CannotMerge as exc:
        raise CannotMerge(f"{exc}; OpenClaw also reads JSON5, which is not merged") from None
    providers = _child(_child(data, "models", "models"), "providers", "models.providers")
    providers[PROVIDER_ID] = openclaw_provider(target)
    if target.model:
        defaults = _child(_child(data, "agents", "agents"), "defaults", "agents.defaults")
        model = _child(defaults, "model", "agents.defaults.model")
        model["primary"] = f"{PROVIDER_ID}/{target.model}"
    return json.dumps(data, indent=2) + "\n"


# -- Continue: ~/.continue/config.yaml, a models entry ----------------------------------------


def _yaml_str(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar: no quoting rules of our own.
    return json.dumps(value)


def continue_render(target: Target) -> str:
    model = target.model or "<model>"
    return "\n".join(
        [
            "name: OmniRoute",
            "version: 0.0.1",
            "schema: v1",
            "models:",
            f"  - name: {_yaml_str(f'OmniRoute {model}')}",
            "    provider: openai",
            f"    model: {_yaml_str(model)}",
            f"    apiBase: {_yaml_str(target.v1)}",
            f"    apiKey: {_yaml_str(target.key)}",
            "    roles: [chat, edit, apply]",
            "",
        ]
    )


def continue_merge(text: str, target: Target) -> str:
    """An existing config.yaml is not rewritten: YAML merges that keep comments and anchors
    need a parser we do not ship. An empty file is replaced."""
    if text.strip():
        raise CannotMerge(
            "~/.continue/config.yaml already exists: add the model entry below to its "
            "'models' list by hand"
        )
    return continue_render(target)
