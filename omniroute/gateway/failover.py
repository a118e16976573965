"""Deciding what a failed attempt means for the rest of a plan, and what the client hears
when every target failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniroute.errors import ErrorKind, GatewayError

if TYPE_CHECKING:
    from omniroute.gateway.pipeline import RequestContext
    from omniroute.routing.plan import Resolved


class TargetExhausted(Exception):
    """Every connection of a target failed over; the next target may still answer."""


def next_target_or_raise(
    ctx: RequestContext,
    target: Resolved,
    err: GatewayError,
    several: bool,
    failures: list[tuple[Resolved, GatewayError]],
) -> None:
    """Note a failure of ``target`` itself when the next target may do better; else raise it."""
    if not several or not (err.next_target or isinstance(err, UnservableTarget)):
        ctx.failed = ctx.attempts
        raise err
    failures.append((target, err))


class UnservableTarget(GatewayError):
    """A target that cannot take the request at all, found before anything was sent; the
    original error's kind, status and message are kept for a request with one target."""

    def __init__(self, err: GatewayError) -> None:
        super().__init__(
            err.kind,
            err.message,
            status=err.status,
            code=err.code,
            param=err.param,
            retry_after=err.retry_after,
            type=err.type,
        )


#: How much an error tells the client, best first: when to retry beats "too long for this
#: model", which beats a refused account, provider trouble, and missing configuration.
_RANK = {
    ErrorKind.RATE_LIMITED: 0,
    ErrorKind.QUOTA_EXHAUSTED: 0,
    ErrorKind.CONTEXT_LENGTH: 1,
    ErrorKind.AUTH: 2,
    ErrorKind.UPSTREAM: 3,
    ErrorKind.TIMEOUT: 3,
    ErrorKind.UNREACHABLE: 3,
    ErrorKind.NOT_FOUND: 4,
    ErrorKind.BAD_REQUEST: 4,
    ErrorKind.UNAVAILABLE: 5,
}


def exhausted(
    ctx: RequestContext, failures: list[tuple[Resolved, GatewayError]], several: bool
) -> GatewayError:
    """The error for a request whose every target failed: the most informative one (the
    latest among equals), with the soonest ``Retry-After`` any failure gave."""
    if not failures:
        return GatewayError(
            ErrorKind.UNAVAILABLE,
            f"no connection could be tried for '{ctx.client_model}'",
            code="no_active_connection",
        )
    target, best = failures[-1]
    for candidate, err in failures:
        if _RANK.get(err.kind, 3) <= _RANK.get(best.kind, 3):
            target, best = candidate, err
    waits = [err.retry_after for _, err in failures if err.retry_after is not None]
    if waits:
        best.retry_after = min(waits)
    if several:
        name = f"combo '{ctx.combo}'" if ctx.combo else f"'{ctx.client_model}' and its fallbacks"
        count = len({t for t, _ in failures})
        best.message = (
            f"all {count} targets of {name} failed after {ctx.attempts} attempts; "
            f"{target.name}: {best.message}"
        )
    elif ctx.attempts > 1:
        best.message = (
            f"all {ctx.attempts} connections of provider '{target.provider.id}' failed; "
            f"last error: {best.message}"
        )
    return best
