"""Rate-limit hints: every way upstreams say "come back later", and quota told from rate limit."""

from __future__ import annotations

import orjson
import pytest
from multidict import CIMultiDict

from omniroute.errors import ErrorKind
from omniroute.providers import Provider
from omniroute.routing.hints import (
    LONG_RESET_SECONDS,
    body_hint,
    header_hint,
    is_quota_exhausted,
    parse_duration,
    parse_reset_text,
    retry_hint,
)

NOW = 1_800_000_000.0  # a fixed wall clock: 2027-01-15T08:00:00Z


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("2h3m4.5s", 7384.5),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("17", 17.0),
        ("1d2h", 93600.0),
    ],
)
def test_go_style_durations_are_read(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "1x", "s1"])
def test_text_that_is_no_duration_gives_none(text):
    assert parse_duration(text) is None


def test_retry_after_in_seconds():
    assert header_hint(CIMultiDict({"Retry-After": "9"}), NOW) == 9.0


def test_retry_after_as_an_http_date_counts_from_the_wall_clock():
    headers = CIMultiDict({"Retry-After": "Fri, 15 Jan 2027 08:01:30 GMT"})
    assert header_hint(headers, NOW) == pytest.approx(90.0)


def test_retry_after_ms_wins_over_retry_after():
    headers = CIMultiDict({"retry-after-ms": "1500", "retry-after": "9"})
    assert header_hint(headers, NOW) == 1.5


def test_openai_reset_of_the_exhausted_limit_is_used():
    headers = CIMultiDict(
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-remaining-tokens": "1200",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )
    assert header_hint(headers, NOW) == 1.0


def test_openai_token_reset_when_tokens_ran_out():
    headers = CIMultiDict(
        {
            "x-ratelimit-remaining-requests": "40",
            "x-ratelimit-remaining-tokens": "0",
            "x-ratelimit-reset-requests": "20ms",
            "x-ratelimit-reset-tokens": "2h3m4.5s",
        }
    )
    assert header_hint(headers, NOW) == pytest.approx(7384.5)


def test_openai_resets_without_remaining_counts_take_the_longest():
    headers = CIMultiDict({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"})
    assert header_hint(headers, NOW) == 360.0


def test_anthropic_reset_timestamps_are_rfc3339():
    headers = CIMultiDict(
        {
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:42Z",
            "anthropic-ratelimit-tokens-reset": "2027-01-15T08:05:00Z",
        }
    )
    assert header_hint(headers, NOW) == pytest.approx(42.0)


def test_headers_without_any_hint_give_none():
    assert header_hint(CIMultiDict({"content-type": "application/json"}), NOW) is None


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Rate limit reached for gpt-4o. Please try again in 20s. Visit ...", 20.0),
        ("You've hit your usage limit. Try again in 2h3m.", 7380.0),
        ("Your limit resets in 5 minutes", 300.0),
        ("Please retry in 37.5s", 37.5),
        ("try again in 250ms", 0.25),
        ("Try again in 1 hour and 30 minutes", 5400.0),
        ("quota will reset after 12h", 43200.0),
    ],
)
def test_reset_wording_in_messages(message, seconds):
    assert parse_reset_text(message) == pytest.approx(seconds)


@pytest.mark.parametrize("message", ["try again later", "overloaded", "resets in 3 months"])
def test_messages_without_a_reset_time_give_none(message):
    assert parse_reset_text(message) is None


def gemini_error(retry_delay: str | None = None, violations: bool = False) -> dict:
    details: list[dict] = []
    if violations:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}],
            }
        )
    if retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    return {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan.",
            "status": "RESOURCE_EXHAUSTED",
            "details": details,
        }
    }


def test_gemini_retry_info_delay():
    assert body_hint(gemini_error("37s")) == 37.0
    assert body_hint([gemini_error("7s")]) == 7.0  # stream errors come wrapped in a list


def test_codex_resets_in_seconds_field():
    body = {"error": {"type": "usage_limit_reached", "resets_in_seconds": 5400}}
    assert body_hint(body) == 5400.0


def test_headers_win_over_the_body():
    body = orjson.dumps(gemini_error("37s"))
    assert retry_hint(CIMultiDict({"retry-after": "3"}), body, now=NOW) == 3.0
    assert retry_hint(CIMultiDict(), body, now=NOW) == 37.0


def test_insufficient_quota_is_quota_even_with_a_short_reset():
    assert is_quota_exhausted("You exceeded your current quota", code="insufficient_quota")
    assert is_quota_exhausted("Your credit balance is too low", retry_after=5)


def test_a_long_reset_is_a_spent_quota():
    assert is_quota_exhausted("Rate limit reached", retry_after=LONG_RESET_SECONDS + 1)


def test_a_short_reset_is_a_rate_limit_whatever_the_wording():
    body = gemini_error("37s", violations=True)
    assert not is_quota_exhausted(body["error"]["message"], body=body, retry_after=37)


def test_gemini_quota_violations_without_a_reset_are_a_spent_quota():
    body = gemini_error(violations=True)
    assert is_quota_exhausted("Resource has been exhausted", "RESOURCE_EXHAUSTED", body=body)


def test_plain_rate_limit_is_not_quota():
    assert not is_quota_exhausted("Rate limit reached for requests", "rate_limit_error")


# -- Provider.classify_error uses all of it ------------------------------------------------------

PROVIDER = Provider(id="p", name="P", base_url="http://upstream.invalid")


def classify(status: int, body: dict, headers: dict | None = None):
    return PROVIDER.classify_error(status, CIMultiDict(headers or {}), orjson.dumps(body))


def test_classify_reads_the_reset_from_the_message():
    err = classify(429, {"error": {"message": "Please try again in 20s.", "type": "requests"}})
    assert (err.kind, err.retry_after) == (ErrorKind.RATE_LIMITED, 20.0)


def test_classify_calls_a_usage_limit_with_hours_to_go_a_spent_quota():
    err = classify(429, {"error": {"message": "Usage limit hit. Try again in 2h3m."}})
    assert (err.kind, err.retry_after) == (ErrorKind.QUOTA_EXHAUSTED, 7380.0)


def test_classify_reads_gemini_retry_info():
    err = classify(429, gemini_error("37s"))
    assert (err.kind, err.retry_after) == (ErrorKind.RATE_LIMITED, 37.0)


def test_classify_reads_reset_headers_on_a_503():
    err = classify(503, {"error": {"message": "overloaded"}}, {"retry-after": "4"})
    assert (err.kind, err.retry_after) == (ErrorKind.UPSTREAM, 4.0)


def test_classify_never_turns_a_bad_requests_wording_into_a_retry_hint():
    err = classify(400, {"error": {"message": "field x invalid; try again in 5s"}})
    assert (err.kind, err.retry_after) == (ErrorKind.BAD_REQUEST, None)


def test_rate_limit_window_headers_on_other_answers_are_no_hint():
    # OpenAI and Anthropic send their window headers on every answer: a 401 must rest the
    # account for the cooldown, not for the 6 ms until the request window rolls over.
    headers = {"x-ratelimit-reset-requests": "6ms", "anthropic-ratelimit-tokens-reset": "x"}
    err = classify(401, {"error": {"message": "Incorrect API key provided"}}, headers)
    assert (err.kind, err.retry_after) == (ErrorKind.AUTH, None)
    err = classify(500, {"error": {"message": "boom"}}, headers)
    assert (err.kind, err.retry_after) == (ErrorKind.UPSTREAM, None)
