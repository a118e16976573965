"""``X-OmniRoute-*`` headers: on JSON answers, streams and errors, never a credential."""

from __future__ import annotations

import aiohttp

from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HI = [{"role": "user", "content": "hi"}]


async def test_a_json_answer_names_provider_model_and_connection(gateway, upstream):
    conn = await gateway.connect(upstream)
    raw = await gateway.openai().chat.completions.with_raw_response.create(
        model="openai/gpt-5", messages=HI
    )
    assert raw.headers["x-omniroute-provider"] == "openai"
    assert raw.headers["x-omniroute-model"] == "gpt-5"
    assert raw.headers["x-omniroute-connection"] == conn["id"]
    assert raw.headers["x-omniroute-fallback-attempts"] == "0"
    assert "x-omniroute-combo" not in raw.headers
    assert UPSTREAM_KEY not in str(dict(raw.headers))


async def test_a_stream_carries_the_headers_of_the_target_that_answered(gateway, aiohttp_server):
    fakes = []
    for priority in (0, 1):
        fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        fakes.append(await gateway.connect(str(server.make_url("/v1")), priority=priority))
        fakes[-1]["fake"] = fake
    fakes[0]["fake"].enqueue(Reply.error(500, "boom"))
    await gateway.api("POST", "/api/combos", json={"name": "c", "models": ["openai/gpt-5"]})
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "c", "messages": HI, "stream": True},
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        assert resp.headers["X-OmniRoute-Connection"] == fakes[1]["id"]
        assert resp.headers["X-OmniRoute-Combo"] == "c"
        assert resp.headers["X-OmniRoute-Fallback-Attempts"] == "1"
        assert b"[DONE]" in await resp.read()


async def test_an_error_after_attempts_counts_them_all(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.error(503, "overloaded"))
    status, _, resp = await gateway.post(
        "/v1/chat/completions", json={"model": "openai/gpt-5", "messages": HI}
    )
    assert status == 503
    assert resp.headers["X-OmniRoute-Provider"] == "openai"
    assert resp.headers["X-OmniRoute-Fallback-Attempts"] == "1"


async def test_an_error_before_any_attempt_has_no_routing_headers(gateway):
    status, _, resp = await gateway.post(
        "/v1/chat/completions", json={"model": "nosuch/model", "messages": HI}
    )
    assert status == 404
    assert "X-OmniRoute-Provider" not in resp.headers


async def test_a_model_id_that_cannot_be_a_header_is_percent_encoded(gateway, upstream):
    await gateway.connect(upstream)
    status, _, resp = await gateway.post(
        "/v1/chat/completions", json={"model": "openai/gpt-5\u00e9", "messages": HI}
    )
    assert status == 200
    assert resp.headers["X-OmniRoute-Model"] == "gpt-5%C3%A9"
