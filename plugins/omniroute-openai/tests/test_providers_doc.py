"""``docs/providers.md`` lists the bundled providers from the catalogue, never by hand.

The table sits between two markers in the page. After changing the catalogue, regenerate it:

    python plugins/omniroute-openai/tests/test_providers_doc.py
"""

from __future__ import annotations

from pathlib import Path

import pytest
from omniroute_openai import catalogue_providers

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "providers.md"
START = "<!-- providers-table:start (generated from omniroute_openai.catalog) -->"
END = "<!-- providers-table:end -->"


def providers_table() -> str:
    """The Markdown table of every catalogue provider, in catalogue order."""
    lines = [
        "| provider | id | prefix | aliases | base URL | chat | embedding | image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in catalogue_providers():
        counts = [
            sum(1 for m in p.models if m.type == kind) for kind in ("chat", "embedding", "image")
        ]
        aliases = ", ".join(f"`{a}`" for a in p.aliases) or "—"
        lines.append(
            f"| {p.name} | `{p.id}` | `{p.prefix}` | {aliases} | `{p.base_url}` | "
            + " | ".join(str(c) for c in counts)
            + " |"
        )
    return "\n".join(lines)


def generated_block() -> str:
    return f"{START}\n{providers_table()}\n{END}"


def current_block(text: str) -> str:
    start, end = text.index(START), text.index(END) + len(END)
    return text[start:end]


@pytest.mark.skipif(not DOC.exists(), reason="outside the OmniRoute repository")
def test_the_providers_page_lists_the_catalogue():
    text = DOC.read_text()
    stale = "docs/providers.md is stale: run python " + str(Path(__file__).relative_to(ROOT))
    assert current_block(text) == generated_block(), stale


if __name__ == "__main__":
    text = DOC.read_text()
    DOC.write_text(text.replace(current_block(text), generated_block()))
    print(f"updated {DOC}")
