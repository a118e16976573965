"""Render the translation matrix page from the outcomes of `tests/test_translation_matrix.py`."""

from __future__ import annotations

import re
from collections import defaultdict

FORMATS = ("openai", "anthropic", "responses", "gemini")
CHECKS = {
    "test_text_crosses_the_pair": "text",
    "test_tool_call_crosses_the_pair": "tool call",
    "test_tool_result_round_trip_crosses_the_pair": "tool result",
    "test_upstream_rate_limit_reaches_the_client_in_its_own_shape": "429",
}
_CELL = re.compile(r"^(?P<test>\w+)\[(?P<source>\w+)->(?P<target>\w+)-(?P<mode>json|stream)\]$")


def render(outcomes: dict[str, str]) -> str:
    """A Markdown page: one table per mode, a cell per client and upstream listing its checks."""
    cells: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for name, outcome in sorted(outcomes.items()):
        match = _CELL.match(name)
        if not match or match["test"] not in CHECKS:
            continue
        mark = "✓" if outcome == "passed" else "✗"
        key = (match["mode"], match["source"], match["target"])
        cells[key].append(f"{mark} {CHECKS[match['test']]}")
    lines = [
        "# Translation matrix",
        "",
        "Generated from a run of `tests/test_translation_matrix.py` (official SDKs as clients,",
        "fake upstreams that validate what they receive). Regenerate with",
        "`TRANSLATION_MATRIX_REPORT=docs/translation-matrix.md .venv/bin/python -m pytest",
        "tests/test_translation_matrix.py`.",
    ]
    for mode in ("json", "stream"):
        lines += ["", f"## {'Streaming' if mode == 'stream' else 'JSON'}", ""]
        lines.append("| client ↓ / upstream → | " + " | ".join(FORMATS) + " |")
        lines.append("|---" * (len(FORMATS) + 1) + "|")
        for source in FORMATS:
            row = [", ".join(cells.get((mode, source, target), ["not run"])) for target in FORMATS]
            lines.append(f"| {source} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
