"""Model name patterns (``*`` and ``?``) and the model aliases built on them.

A pattern matches a whole model name, case-insensitively: ``*`` matches any run of characters
(``/`` included), ``?`` exactly one; everything else is literal. When several patterns match,
the **most specific** wins: the one with the most literal characters, then the fewest ``*``,
then the fewest ``?``, then the alphabetically first (so the choice never depends on the order
they were saved in). An exact name therefore always beats a pattern that matches it too.

Aliases are a settings document (key ``model-aliases``): ``{pattern: target}``, where a target
is a combo name or ``prefix/model``. Patterns are compiled once, when the routing index is
built; a request costs a dict lookup, and a regex scan only for names not seen before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, field_validator

from omniroute.store.documents import get_document, put_document

V = TypeVar("V")

ALIASES_KEY = "model-aliases"
WILDCARDS = frozenset("*?")
MAX_PATTERN = 300
#: Names remembered per table; past this the memo starts over (names are client-chosen).
MEMO_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled model name pattern."""

    text: str
    regex: re.Pattern[str] | None

    @property
    def specificity(self) -> tuple[int, int, int, str]:
        """Sort key: the most specific pattern sorts first."""
        stars, marks = self.text.count("*"), self.text.count("?")
        literals = len(self.text) - stars - marks
        return (-literals, stars, marks, self.text.lower())


def compile_pattern(text: str) -> Pattern:
    """Compile ``text``; a pattern without wildcards gets no regex (it is an exact name)."""
    if not WILDCARDS & set(text):
        return Pattern(text, None)
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)
    return Pattern(text, re.compile("".join(parts), re.IGNORECASE | re.DOTALL))


class PatternTable(Generic[V]):
    """Values keyed by patterns; :meth:`match` finds the value of the most specific match."""

    def __init__(self, items: Iterable[tuple[str, V]] = ()) -> None:
        self._exact: dict[str, tuple[str, V]] = {}
        wild: list[tuple[Pattern, V]] = []
        for text, value in items:
            pattern = compile_pattern(text)
            if pattern.regex is None:
                self._exact[text.lower()] = (text, value)
            else:
                wild.append((pattern, value))
        wild.sort(key=lambda item: item[0].specificity)
        self._wild = wild
        self._memo: dict[str, tuple[str, V] | None] = {}

    def __bool__(self) -> bool:
        return bool(self._exact or self._wild)

    def match(self, name: str) -> tuple[str, V] | None:
        """The pattern text and value of the most specific pattern matching ``name``."""
        key = name.lower()
        hit = self._exact.get(key)
        if hit is not None or not self._wild:
            return hit
        try:
            return self._memo[key]
        except KeyError:
            pass
        found = next(
            ((p.text, value) for p, value in self._wild if p.regex and p.regex.fullmatch(name)),
            None,
        )
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = found
        return found


# -- pattern and target validation (shared with fallback chains) ---------------------------------

_PATTERN_CHARS = re.compile(r"[A-Za-z0-9._:/@+*?-]+")


def check_pattern(text: str) -> str:
    """A model pattern as typed by a user; raises ``ValueError`` saying what is wrong."""
    if not text or len(text) > MAX_PATTERN:
        raise ValueError(f"a model pattern must be 1-{MAX_PATTERN} characters")
    if not _PATTERN_CHARS.fullmatch(text):
        raise ValueError(
            f"'{text}' has characters a model name cannot have (letters, digits and "
            "'._:/@+-' plus the wildcards '*' and '?')"
        )
    if text.strip("*?") == "" and text != "*":
        raise ValueError(f"'{text}' is only wildcards; use '*' to match every model")
    return text


class AliasesIn(BaseModel):
    """The whole alias table, as ``PUT /api/settings/model-aliases`` takes it."""

    model_config = ConfigDict(extra="forbid")

    aliases: dict[str, str] = Field(default_factory=dict, max_length=10_000)

    @field_validator("aliases")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for pattern, target in value.items():
            check_pattern(pattern)
            if pattern.lower() in seen:
                raise ValueError(f"'{pattern}' and '{seen[pattern.lower()]}' differ only in case")
            seen[pattern.lower()] = pattern
            if not target.strip() or WILDCARDS & set(target):
                raise ValueError(f"the target of '{pattern}' must be a model name, no wildcards")
        return {p: t.strip() for p, t in value.items()}


def load_aliases(db: sqlite_utils.Database) -> dict[str, str]:
    """The stored alias table (empty when none was saved)."""
    raw = get_document(db, ALIASES_KEY)
    return dict(raw) if isinstance(raw, Mapping) else {}


def save_aliases(db: sqlite_utils.Database, aliases: Mapping[str, str]) -> None:
    """Replace the alias table."""
    put_document(db, ALIASES_KEY, dict(aliases))
