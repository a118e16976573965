"""The AI settings section applied to a chat request: the global system prompt and the default
thinking budget, through the client's own format (so a same-format hop carries them as well as
a translated one, which is parsed from the same body)."""

from __future__ import annotations

from typing import Any

from omniroute.formats.base import Format
from omniroute.settings_model import AiSettings


def apply_ai_settings(ai: AiSettings, source: Format, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (in ``source``'s format) with the AI section applied; unchanged when the
    section is off, which costs a request two attribute reads."""
    if ai.injects_prompt:
        body = source.with_system_prompt(body, ai.system_prompt, ai.system_prompt_position)
    if ai.default_thinking_budget is not None:
        body = source.with_default_thinking(body, ai.default_thinking_budget)
    return body
