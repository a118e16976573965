"""Pointing coding tools (Claude Code, Codex CLI, Cursor, OpenClaw, Continue, Cline, Roo Code)
at the gateway: what to type or paste for each, and writing the config files that can be
written. Used by ``/api/cli-tools`` and ``omniroute setup``."""

from omniroute.tools.apply import Applied, apply, tools_home
from omniroute.tools.catalog import (
    PLACEHOLDER_KEY,
    TOOLS,
    Tool,
    check_url,
    describe,
    env_lines,
    get_tool,
    make_target,
)
from omniroute.tools.configs import Target

__all__ = [
    "PLACEHOLDER_KEY",
    "TOOLS",
    "Applied",
    "Target",
    "Tool",
    "apply",
    "check_url",
    "describe",
    "env_lines",
    "get_tool",
    "make_target",
    "tools_home",
]
