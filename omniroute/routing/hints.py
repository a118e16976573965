"""Rate-limit hints: how long an upstream asked us to wait, and whether its quota is spent.

Upstreams say "come back later" in many ways; this module reads all the ones we know so that
providers' ``classify_error`` stays one line:

- ``retry-after-ms``; ``Retry-After`` as seconds or an HTTP date;
- ``x-ratelimit-reset-requests`` / ``-tokens`` (OpenAI and friends) as Go-style durations
  (``1s``, ``6m0s``, ``2h3m4.5s``, ``20ms``), preferring the limit whose remaining count is 0;
- ``anthropic-ratelimit-*-reset`` as RFC 3339 timestamps;
- Gemini's ``google.rpc.RetryInfo.retryDelay`` (``"37s"``) and a ``resets_in_seconds`` field;
- reset text in the error message ("try again in 2h3m", "Please retry in 20s", "resets in
  5 minutes").

How long a hint is *trusted* is routing's decision (``ResilienceSettings.max_hint_seconds``),
not this module's. Everything here is pure and runs only on the error path.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

#: A reset further away than this is a spent quota, not a short-term rate limit.
LONG_RESET_SECONDS = 900.0

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}
_GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")

_WORD_UNITS = (
    ("ms", 1e-3),
    ("millisecond", 1e-3),
    ("msec", 1e-3),
    ("s", 1.0),
    ("sec", 1.0),
    ("second", 1.0),
    ("m", 60.0),
    ("min", 60.0),
    ("minute", 60.0),
    ("h", 3600.0),
    ("hr", 3600.0),
    ("hour", 3600.0),
    ("d", 86400.0),
    ("day", 86400.0),
)
_WORD_UNIT_SECONDS = dict(_WORD_UNITS)
# Longest names first so that "ms" is not read as "m" followed by "s"; a unit must not run
# into more letters ("3 months" is no duration we know), but may run into digits ("2h3m").
_UNIT_ALTERNATION = "|".join(
    sorted(
        (name + ("s?" if len(name) > 1 and name != "ms" else "") for name, _ in _WORD_UNITS),
        key=len,
        reverse=True,
    )
)
_TEXT_AMOUNT = rf"(\d+(?:\.\d+)?)\s*({_UNIT_ALTERNATION})(?![a-z])"
_TEXT_RESET = re.compile(
    r"(?:try again|retry|resets?|reset|available again|wait)\s+(?:in|after)\s+"
    rf"((?:{_TEXT_AMOUNT}[\s,]*(?:and\s+)?)+)",
    re.IGNORECASE,
)
_TEXT_PART = re.compile(_TEXT_AMOUNT, re.IGNORECASE)

_QUOTA_MARKERS = (
    "insufficient_quota",
    "quota",
    "billing",
    "credit",
    "balance",
    "usage limit",
    "usage_limit",
)
#: Markers that mean a spent quota whatever reset time comes with them. Plain "quota" or
#: "billing" wording is not enough: Gemini's per-minute 429 says "check your plan and billing".
_HARD_QUOTA_MARKERS = (
    "insufficient_quota",
    "billing_hard_limit",
    "credit balance",
    "insufficient balance",
    "insufficient_balance",
)


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (``6m0s``, ``2h3m4.5s``, ``20ms``) or a bare number."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    if not _GO_DURATION.match(text):
        return None
    return sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _GO_PART.findall(text))


def parse_retry_after(value: str, now: float) -> float | None:
    """``Retry-After``: delay seconds, or an HTTP date (seconds from the wall clock ``now``)."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def parse_timestamp(value: str, now: float) -> float | None:
    """Seconds until an RFC 3339 timestamp (``2026-01-01T12:00:30Z``) from the wall clock."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def parse_reset_text(message: str) -> float | None:
    """Seconds from reset wording: "try again in 2h3m", "retry in 20s", "resets in 5 minutes"."""
    match = _TEXT_RESET.search(message)
    if match is None:
        return None
    total = 0.0
    for amount, unit in _TEXT_PART.findall(match.group(1)):
        unit = unit.lower()
        name = unit if unit in _WORD_UNIT_SECONDS else unit[:-1]
        total += float(amount) * _WORD_UNIT_SECONDS[name]
    return total


def _reset_headers(
    headers: Mapping[str, str], prefix: str, suffix: str, read: Callable[[str], float | None]
) -> float | None:
    """The reset of the limit that ran out, or the longest when none says it ran out."""
    resets: dict[str, float] = {}
    exhausted: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if not lower.startswith(prefix):
            continue
        rest = lower[len(prefix) :]
        if rest.endswith(suffix):
            seconds = read(value)
            if seconds is not None:
                resets[rest[: -len(suffix)]] = seconds
        elif rest.endswith("-remaining") and value.strip() == "0":
            exhausted.add(rest[: -len("-remaining")])
    if not resets:
        return None
    spent = [seconds for limit, seconds in resets.items() if limit in exhausted]
    return max(spent or resets.values())


def header_hint(
    headers: Mapping[str, str], now: float | None = None, *, resets: bool = True
) -> float | None:
    """Seconds to wait according to the response headers, most explicit header first.

    ``resets=False`` reads only ``retry-after(-ms)``: providers send their rate-limit window
    headers on every answer, and on anything but a 429 they say nothing about waiting.
    """
    now = time.time() if now is None else now
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw:
        seconds = parse_retry_after(raw, now)
        if seconds is not None:
            return seconds
    if not resets:
        return None
    # x-ratelimit-reset-requests / x-ratelimit-remaining-requests: the limit name is a suffix.
    openai = _reset_headers(
        {_swap_openai(k): v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")},
        "x-ratelimit-",
        "-reset",
        parse_duration,
    )
    if openai is not None:
        return openai
    return _reset_headers(
        headers, "anthropic-ratelimit-", "-reset", lambda value: parse_timestamp(value, now)
    )


def _swap_openai(name: str) -> str:
    """``x-ratelimit-reset-tokens`` → ``x-ratelimit-tokens-reset`` (Anthropic's word order)."""
    lower = name.lower()
    for word in ("reset", "remaining", "limit"):
        head = f"x-ratelimit-{word}-"
        if lower.startswith(head):
            return f"x-ratelimit-{lower[len(head) :]}-{word}"
    return lower


def _error_objects(data: Any) -> Iterable[dict[str, Any]]:
    if isinstance(data, list):
        data = data[0] if data else None
    if not isinstance(data, dict):
        return ()
    error = data.get("error")
    return (error, data) if isinstance(error, dict) else (data,)


def _details(data: Any) -> list[dict[str, Any]]:
    for obj in _error_objects(data):
        details = obj.get("details")
        if isinstance(details, list):
            return [d for d in details if isinstance(d, dict)]
    return []


def body_hint(data: Any, message: str = "") -> float | None:
    """Seconds to wait according to the error body (parsed JSON) or its message."""
    for detail in _details(data):
        if str(detail.get("@type", "")).endswith("RetryInfo"):
            seconds = parse_duration(str(detail.get("retryDelay", "")))
            if seconds is not None:
                return seconds
    for obj in _error_objects(data):
        value = obj.get("resets_in_seconds")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return max(0.0, float(value))
    return parse_reset_text(message) if message else None


def load_body(body: bytes) -> Any:
    """The error body as JSON, or ``None`` when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def retry_hint(
    headers: Mapping[str, str], body: bytes, message: str = "", now: float | None = None
) -> float | None:
    """Seconds until a rate-limited upstream accepts requests again, from any hint it gave."""
    seconds = header_hint(headers, now)
    if seconds is not None:
        return seconds
    return body_hint(load_body(body), message)


def is_quota_exhausted(
    message: str,
    err_type: str | None = None,
    code: str | None = None,
    *,
    body: Any = None,
    retry_after: float | None = None,
) -> bool:
    """Whether a refusal means the account's quota is spent rather than a short rate limit.

    Spent: ``insufficient_quota``, a hard billing limit or an empty balance, a reset further than
    :data:`LONG_RESET_SECONDS`, or "quota" wording and Gemini quota violations without a short
    reset. A reset within minutes is a rate limit whatever its wording: Gemini says "You
    exceeded your current quota" for its per-minute limits too.
    """
    haystack = " ".join(filter(None, (message, err_type, code))).lower()
    if any(marker in haystack for marker in _HARD_QUOTA_MARKERS):
        return True
    if retry_after is not None:
        return retry_after >= LONG_RESET_SECONDS
    if any(marker in haystack for marker in _QUOTA_MARKERS):
        return True
    return any(
        str(d.get("@type", "")).endswith("QuotaFailure") and d.get("violations")
        for d in _details(body)
    )
