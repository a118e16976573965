"""The ``X-OmniRoute-*`` headers that tell a client where its request went.

Every answer from a front door carries them (JSON, streams and errors once a request was
routed), built here so they are named and filled in one place:

==================================  ===========================================================
``X-OmniRoute-Provider``            the provider id of the target that answered (or failed last)
``X-OmniRoute-Model``               the upstream model id sent to it
``X-OmniRoute-Connection``          the connection (account) id used; never a credential
``X-OmniRoute-Combo``               the combo the model named, when it named one
``X-OmniRoute-Fallback-Attempts``   attempts that failed before the answer (all, on an error)
==================================  ===========================================================
"""

from __future__ import annotations

from urllib.parse import quote

from omniroute.gateway.pipeline import RequestContext

PROVIDER = "X-OmniRoute-Provider"
MODEL = "X-OmniRoute-Model"
CONNECTION = "X-OmniRoute-Connection"
COMBO = "X-OmniRoute-Combo"
FALLBACK_ATTEMPTS = "X-OmniRoute-Fallback-Attempts"


def route_headers(ctx: RequestContext) -> dict[str, str]:
    """The routing headers for the answer to ``ctx``."""
    headers = {
        PROVIDER: ctx.resolved.provider.id,
        FALLBACK_ATTEMPTS: str(ctx.failed),
    }
    if ctx.model:
        headers[MODEL] = header_safe(ctx.model)
    if ctx.connection is not None:
        headers[CONNECTION] = ctx.connection.id
    if ctx.combo:
        headers[COMBO] = ctx.combo
    return headers


def header_safe(value: str) -> str:
    """``value`` as is when it can be a header value, else percent-encoded: a model id comes
    from the client, and a newline in it must not become a header of its own."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe="/:@._-+")
