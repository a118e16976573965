"""Render the translation matrix page from the outcomes of the matrix tests.

The matrix tests are ``tests/test_translation_matrix.py`` (text, tool calls, tool results, 429s)
and ``tests/test_translation_fidelity.py`` (one feature per test). Each test id names its cell
(``[source->target-json]``, with a leading ``param-`` for parametrised rows such as tool choice);
the page has one table per client format, a row per check and a column per upstream format, each
cell showing the JSON and the streaming outcome.
"""

from __future__ import annotations

import re

FORMATS = ("openai", "anthropic", "responses", "gemini")
MODES = ("json", "stream")

ROWS: dict[str, str] = {
    "test_text_crosses_the_pair": "system + text",
    "test_tool_call_crosses_the_pair": "tool call",
    "test_tool_result_round_trip_crosses_the_pair": "tool result round trip",
    "test_upstream_rate_limit_reaches_the_client_in_its_own_shape": "upstream 429 → own error",
    "test_system_blocks_reach_the_upstream_in_order": "system blocks",
    "test_base64_image_reaches_the_upstream": "image (base64)",
    "test_image_url_reaches_the_upstream": "image (URL)",
    "test_tool_choice_reaches_the_upstream_and_is_obeyed[auto]": "tool_choice auto",
    "test_tool_choice_reaches_the_upstream_and_is_obeyed[none]": "tool_choice none",
    "test_tool_choice_reaches_the_upstream_and_is_obeyed[required]": "tool_choice required",
    "test_tool_choice_reaches_the_upstream_and_is_obeyed[tool:get_time]": "tool_choice named",
    "test_parallel_tool_calls_reach_the_client": "parallel tool calls",
    "test_reasoning_effort_maps_to_the_upstreams_own_knob": "reasoning effort",
    "test_reasoning_text_reaches_the_client": "reasoning text",
    "test_gemini_clients_get_thoughts_only_when_they_ask": "no thoughts unasked",
    "test_json_schema_reaches_the_upstream": "JSON schema",
    "test_stop_sequences_reach_the_upstream": "stop sequences",
    "test_max_tokens_reach_the_upstream": "max tokens",
    "test_a_length_cut_reaches_the_client_as_its_own_stop_reason": "length stop reason",
    "test_usage_with_cached_and_reasoning_tokens_reaches_the_client": "usage (cached, reasoning)",
}
"""Row key (test name, plus ``[param]`` for parametrised rows) → label, in page order."""

MARKS = {"passed": "✓", "skipped": "n/a", "failed": "✗"}

_ID = re.compile(
    r"^(?P<test>\w+)\[(?:(?P<param>[\w:]+)-)?"
    r"(?P<source>\w+)->(?P<target>\w+)-(?P<mode>json|stream)\]$"
)


def parse(node: str) -> tuple[str, str, str, str] | None:
    """``(row key, source, target, mode)`` of a matrix test id, or ``None`` for other tests."""
    match = _ID.match(node)
    if match is None:
        return None
    row = match["test"] + (f"[{match['param']}]" if match["param"] else "")
    if row not in ROWS:
        return None
    return row, match["source"], match["target"], match["mode"]


def render(outcomes: dict[str, str]) -> str:
    """A Markdown page from ``{test id: "passed" | "failed" | "skipped"}``; a check that did
    not run for a cell (it does not apply there, or was not run) shows ``-``."""
    marks: dict[tuple[str, str, str, str], str] = {}
    for node, outcome in outcomes.items():
        parsed = parse(node)
        if parsed is not None:
            marks[parsed] = MARKS.get(outcome, "✗")
    lines = [
        "# Translation matrix",
        "",
        "Generated from a run of `tests/test_translation_matrix.py` and",
        "`tests/test_translation_fidelity.py`: the official SDKs as clients, fake upstreams that",
        "validate what they receive. Each cell shows JSON / streaming; `n/a` is a feature the",
        "format does not have (the Responses API has no stop sequences), `-` a check that does not",
        "apply to the pair. Regenerate with `TRANSLATION_MATRIX_REPORT=docs/translation-matrix.md",
        ".venv/bin/python -m pytest tests/test_translation_matrix.py",
        "tests/test_translation_fidelity.py`.",
    ]
    for source in FORMATS:
        lines += ["", f"## {source} client", ""]
        lines.append("| check ↓ / upstream → | " + " | ".join(FORMATS) + " |")
        lines.append("|---" * (len(FORMATS) + 1) + "|")
        for row, label in ROWS.items():
            cells = [
                " / ".join(marks.get((row, source, target, mode), "-") for mode in MODES)
                for target in FORMATS
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
