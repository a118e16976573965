"""What a Claude subscription (OAuth) call needs, as plain data and pure functions.

The facts come from the public proxies recorded in ``shared/reference/oauth.md`` §1: the Bearer
token must come with ``anthropic-beta: oauth-2025-04-20``, the system prompt must start with the
Claude Code line, and the usage windows are read from ``/api/oauth/usage``. Kept apart from the
provider class so they can be tested (and reused) without the OAuth kernel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from omniroute.oauth.quota import QuotaWindow

ANTHROPIC_VERSION = "2023-06-01"
OAUTH_BETA = "oauth-2025-04-20"
CLAUDE_CODE_BETA = "claude-code-20250219"
#: The betas every subscription call carries; a client's own betas come first.
BASE_BETAS = (CLAUDE_CODE_BETA, OAUTH_BETA)
#: The line the API requires at the start of the system prompt of subscription traffic.
CLAUDE_CODE_SYSTEM = "You are Claude Code, Anthropic's official CLI for Claude."
#: Claude Code's version in ``User-Agent`` (CPA's default; ``OMNIROUTE_CLAUDE_CLI_VERSION``).
CLI_VERSION = "2.1.63"


@dataclass(frozen=True, slots=True)
class ClaudeOAuthSettings:
    """Endpoints and client of Claude's OAuth login and API, from the environment.

    Every value is read from ``OMNIROUTE_CLAUDE_<THING>`` when the plugin registers, with the
    public defaults of oauth.md §1 (the client id is the one embedded in Claude Code).
    """

    client_id: str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e"
    authorize_url: str = "https://claude.ai/oauth/authorize"
    token_url: str = "https://platform.claude.com/v1/oauth/token"
    redirect_uri: str = "https://platform.claude.com/oauth/code/callback"
    scope: str = "user:profile user:inference user:sessions:claude_code user:mcp_servers"
    base_url: str = "https://api.anthropic.com"
    cli_version: str = CLI_VERSION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClaudeOAuthSettings:
        """The settings with ``OMNIROUTE_CLAUDE_*`` overrides applied."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            **{
                name: env.get(f"OMNIROUTE_CLAUDE_{name.upper()}") or getattr(defaults, name)
                for name in cls.__dataclass_fields__
            }
        )

    @property
    def usage_url(self) -> str:
        """Where the subscription's usage windows are read."""
        return self.base_url.rstrip("/") + "/api/oauth/usage"


ENV_VARS = {
    f"OMNIROUTE_CLAUDE_{name.upper()}": getattr(ClaudeOAuthSettings(), name)
    for name in ClaudeOAuthSettings.__dataclass_fields__
}
"""Each environment variable and its default (documented in ``docs/providers.md``)."""


def merge_betas(*values: str | None) -> str:
    """Comma-separated ``anthropic-beta`` values joined in order, without duplicates."""
    seen: list[str] = []
    for value in values:
        for beta in (value or "").split(","):
            beta = beta.strip()
            if beta and beta not in seen:
                seen.append(beta)
    return ",".join(seen)


def pop_header(headers: MutableMapping[str, str], name: str) -> str | None:
    """Remove every spelling of header ``name`` (case-insensitive); the last value or None."""
    found = None
    for key in [k for k in headers if k.lower() == name.lower()]:
        found = headers.pop(key)
    return found


def with_claude_code_system(body: MutableMapping[str, Any]) -> None:
    """Make the system prompt start with the Claude Code line, keeping the client's blocks
    after it. Idempotent: a body that already starts with it is left alone (a retried attempt
    is authorized again)."""
    system = body.get("system")
    if system is None or system == "" or system == []:
        blocks: list[Any] = []
    elif isinstance(system, str):
        blocks = [{"type": "text", "text": system}]
    elif isinstance(system, list):
        blocks = list(system)
    else:  # not ours to judge; the upstream answers it
        return
    first = blocks[0] if blocks else None
    if isinstance(first, Mapping) and str(first.get("text", "")).startswith(CLAUDE_CODE_SYSTEM):
        body["system"] = blocks
        return
    body["system"] = [{"type": "text", "text": CLAUDE_CODE_SYSTEM}, *blocks]


def starts_with_claude_code(system: Any) -> bool:
    """Whether a request's ``system`` starts with the Claude Code line (string or blocks)."""
    if isinstance(system, str):
        return system.startswith(CLAUDE_CODE_SYSTEM)
    if isinstance(system, list) and system and isinstance(system[0], Mapping):
        return str(system[0].get("text", "")).startswith(CLAUDE_CODE_SYSTEM)
    return False


#: ``seven_day_<family>`` windows that limit one model family only (others, such as
#: ``seven_day_oauth_apps``, limit the whole account).
MODEL_WINDOWS = ("opus", "sonnet", "haiku")


def parse_usage(body: Any) -> list[QuotaWindow]:
    """The windows of an ``/api/oauth/usage`` answer (``five_hour``, ``seven_day``,
    ``seven_day_<model>``, each ``{utilization, resets_at}``); other keys are ignored. A
    ``seven_day_<family>`` window of a model family names it in ``model``."""
    if not isinstance(body, Mapping):
        return []
    windows = []
    for name, value in body.items():
        if not (name in ("five_hour", "seven_day") or name.startswith("seven_day_")):
            continue
        if not isinstance(value, Mapping) or not isinstance(value.get("utilization"), int | float):
            continue
        family = name.removeprefix("seven_day_")
        model = family if family in MODEL_WINDOWS else None
        windows.append(
            QuotaWindow(name, float(value["utilization"]), _epoch(value.get("resets_at")), model)
        )
    return windows


def _epoch(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None
