"""The circuit breaker per provider, driven by a clock the test controls."""

from __future__ import annotations

import pytest

from omniroute.errors import ErrorKind, UpstreamError
from omniroute.routing.breaker import CircuitBreaker, CircuitOpen
from omniroute.routing.config import ProviderProfile, ResilienceSettings
from omniroute.routing.state import BreakerPhase, MemoryHotState

PROFILE = ProviderProfile(
    failure_threshold=3, cooldown_seconds=10, backoff_base=2, backoff_cap_seconds=35
)
SERVER_ERROR = UpstreamError(ErrorKind.UPSTREAM, "HTTP 500", status=500)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(MemoryHotState(), clock)


def fail(breaker: CircuitBreaker, times: int = 1, error=SERVER_ERROR, provider="openai") -> None:
    for _ in range(times):
        probe = breaker.admit(provider)
        breaker.record(provider, PROFILE, error, probe=probe)


def phase(breaker: CircuitBreaker, provider: str = "openai") -> BreakerPhase:
    return breaker.state.breaker(provider).phase


def open_breaker(breaker: CircuitBreaker) -> None:
    fail(breaker, PROFILE.failure_threshold)
    assert phase(breaker) is BreakerPhase.OPEN


def test_a_healthy_provider_stays_closed(breaker):
    for _ in range(10):
        breaker.record("openai", PROFILE, None, probe=breaker.admit("openai"))
    breaker.check("openai")
    assert phase(breaker) is BreakerPhase.CLOSED


def test_it_opens_after_the_threshold_of_provider_failures_in_a_row(breaker):
    fail(breaker, PROFILE.failure_threshold - 1)
    assert phase(breaker) is BreakerPhase.CLOSED
    fail(breaker)
    assert phase(breaker) is BreakerPhase.OPEN
    with pytest.raises(CircuitOpen) as caught:
        breaker.check("openai")
    assert caught.value.kind is ErrorKind.UNAVAILABLE
    assert caught.value.status == 503
    assert caught.value.retry_after == 10
    assert "openai" in caught.value.message


def test_a_success_between_failures_resets_the_count(breaker):
    fail(breaker, PROFILE.failure_threshold - 1)
    breaker.record("openai", PROFILE, None, probe=False)
    fail(breaker, PROFILE.failure_threshold - 1)
    assert phase(breaker) is BreakerPhase.CLOSED


@pytest.mark.parametrize(
    "kind", [ErrorKind.TIMEOUT, ErrorKind.UNREACHABLE, ErrorKind.UPSTREAM], ids=str
)
def test_timeouts_connect_errors_and_5xx_count_against_the_provider(breaker, kind):
    fail(breaker, PROFILE.failure_threshold, UpstreamError(kind, "x"))
    assert phase(breaker) is BreakerPhase.OPEN


@pytest.mark.parametrize(
    "kind",
    [ErrorKind.AUTH, ErrorKind.RATE_LIMITED, ErrorKind.QUOTA_EXHAUSTED, ErrorKind.BAD_REQUEST],
    ids=str,
)
def test_one_accounts_refusal_never_trips_the_provider(breaker, kind):
    fail(breaker, 20, UpstreamError(kind, "x"))
    assert phase(breaker) is BreakerPhase.CLOSED


def test_after_the_cooldown_exactly_one_probe_goes_through(breaker, clock):
    open_breaker(breaker)
    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        breaker.check("openai")
    clock.advance(0.2)
    breaker.check("openai")  # due: a request may go and become the probe
    assert breaker.admit("openai") is True
    assert phase(breaker) is BreakerPhase.HALF_OPEN
    for _ in range(3):  # new requests skip the provider while the probe is out
        with pytest.raises(CircuitOpen):
            breaker.check("openai")


def test_a_request_already_inside_the_provider_is_not_the_probe(breaker, clock):
    open_breaker(breaker)
    assert breaker.admit("openai") is False  # still failing over between accounts
    clock.advance(10)
    assert breaker.admit("openai") is True
    assert breaker.admit("openai") is False


def test_a_successful_probe_closes_the_breaker(breaker, clock):
    open_breaker(breaker)
    clock.advance(10)
    probe = breaker.admit("openai")
    breaker.record("openai", PROFILE, None, probe=probe)
    assert phase(breaker) is BreakerPhase.CLOSED
    assert breaker.admit("openai") is False


def test_a_probe_refused_by_one_account_still_proves_the_provider_answers(breaker, clock):
    open_breaker(breaker)
    clock.advance(10)
    probe = breaker.admit("openai")
    breaker.record("openai", PROFILE, UpstreamError(ErrorKind.AUTH, "401"), probe=probe)
    assert phase(breaker) is BreakerPhase.CLOSED


def test_failed_probes_reopen_with_exponential_backoff_up_to_the_cap(breaker, clock):
    open_breaker(breaker)
    waits = []
    for _ in range(4):
        clock.advance(breaker.seconds_left(breaker.state.breaker("openai")))
        fail(breaker)  # the probe fails
        assert phase(breaker) is BreakerPhase.OPEN
        waits.append(breaker.seconds_left(breaker.state.breaker("openai")))
    assert waits == [20, 35, 35, 35]


def test_a_probe_that_ends_without_an_outcome_passes_the_turn_on(breaker, clock):
    open_breaker(breaker)
    clock.advance(10)
    assert breaker.admit("openai") is True
    breaker.release("openai", probe=True)  # the client went away
    assert breaker.admit("openai") is True


def test_any_answer_from_the_provider_closes_an_open_breaker(breaker):
    # A request that was already failing over inside the provider got an answer: it is up.
    open_breaker(breaker)
    breaker.record("openai", PROFILE, None, probe=False)
    assert phase(breaker) is BreakerPhase.CLOSED


def test_failures_while_open_do_not_extend_the_cooldown(breaker, clock):
    open_breaker(breaker)
    clock.advance(5)
    fail(breaker, 10)
    assert breaker.seconds_left(breaker.state.breaker("openai")) == 5


def test_providers_have_separate_breakers(breaker):
    open_breaker(breaker)
    breaker.check("groq")
    assert breaker.admit("groq") is False


def test_a_forced_reset_closes_an_open_breaker(breaker):
    open_breaker(breaker)
    assert breaker.reset("openai") is True
    assert phase(breaker) is BreakerPhase.CLOSED
    assert breaker.reset("openai") is False


def test_per_provider_profile_overrides_the_default():
    settings = ResilienceSettings.model_validate(
        {"profile": {"failureThreshold": 5}, "providers": {"groq": {"failureThreshold": 1}}}
    )
    assert settings.profile_for("groq").failure_threshold == 1
    assert settings.profile_for("groq").cooldown_seconds == settings.profile.cooldown_seconds
    assert settings.profile_for("openai").failure_threshold == 5
