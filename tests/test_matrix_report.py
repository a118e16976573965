"""The committed matrix page matches the matrix tests: every cell listed, every check passing."""

from __future__ import annotations

from pathlib import Path

from tests.matrix_report import CHECKS, FORMATS, render
from tests.test_translation_matrix import CELLS, cell_id

PAGE = Path(__file__).resolve().parent.parent / "docs" / "translation-matrix.md"


def test_the_committed_matrix_page_is_what_an_all_green_run_renders():
    all_green = {f"{test}[{cell_id(cell)}]": "passed" for test in CHECKS for cell in CELLS}
    assert PAGE.read_text() == render(all_green), (
        "docs/translation-matrix.md is stale: regenerate it (see its first lines)"
    )


def test_render_marks_a_failed_check():
    page = render({"test_text_crosses_the_pair[openai->gemini-json]": "failed"})
    assert "✗ text" in page and "not run" in page and len(FORMATS) == 4
