"""The committed matrix page matches the matrix tests: every cell listed, every check passing."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType

from tests import test_translation_fidelity, test_translation_matrix
from tests.matrix_report import END, ROWS, START, parse, render, section, splice

PAGE = Path(__file__).resolve().parent.parent / "docs" / "translation.md"


def _test_ids(module: ModuleType) -> list[str]:
    """The ids pytest gives the module's parametrised tests (params in decorator order)."""
    ids = []
    for name, test in vars(module).items():
        marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
        if not name.startswith("test_") or not marks:
            continue
        per_mark = []
        for mark in marks:
            make_id = mark.kwargs.get("ids")
            per_mark.append([make_id(v) if callable(make_id) else str(v) for v in mark.args[1]])
        ids += [f"{name}[{'-'.join(combo)}]" for combo in itertools.product(*per_mark)]
    return ids


def _all_green() -> dict[str, str]:
    outcomes = {}
    for node in _test_ids(test_translation_matrix) + _test_ids(test_translation_fidelity):
        parsed = parse(node)
        assert parsed is not None, f"{node} has no row on the matrix page (tests/matrix_report.py)"
        _row, source, target, _mode = parsed
        skipped = node.startswith("test_stop_sequences") and "responses" in (source, target)
        outcomes[node] = "skipped" if skipped else "passed"
    return outcomes


def test_every_row_of_the_page_has_tests():
    rows = {parse(node)[0] for node in _all_green()}  # type: ignore[index]
    assert rows == set(ROWS)


def test_the_committed_matrix_is_what_an_all_green_run_renders():
    assert section(PAGE.read_text()) == render(_all_green()), (
        "the matrix in docs/translation.md is stale: regenerate it (see its first lines)"
    )


def test_splice_replaces_only_the_text_between_the_markers():
    page = f"intro\n{START}\nold\n{END}\noutro\n"
    assert splice(page, "new\n") == f"intro\n{START}\nnew\n{END}\noutro\n"
    assert section(splice(page, "new\n")) == "new\n"


def test_render_marks_a_failed_check():
    page = render({"test_text_crosses_the_pair[openai->gemini-json]": "failed"})
    assert "| system + text | - / - | - / - | - / - | ✗ / - |" in page
