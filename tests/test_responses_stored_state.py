"""``previous_response_id``: continued at a Responses upstream, refused for any other format.

The turns it stands for are stored at OpenAI; a translated request would reach the other
provider without them, so the gateway says so instead of answering out of context.
"""

from __future__ import annotations

import openai
import pytest

from omniroute.testing import FakeAnthropicUpstream, FakeResponsesUpstream
from tests.conftest import UPSTREAM_KEY


async def _connect(gateway, aiohttp_server, fake, provider: str, path: str) -> None:
    server = await aiohttp_server(fake.app)
    await gateway.connect(str(server.make_url(path)).rstrip("/"), provider=provider)


async def test_a_responses_upstream_continues_its_stored_conversation(gateway, aiohttp_server):
    fake = FakeResponsesUpstream(api_key=UPSTREAM_KEY)
    await _connect(gateway, aiohttp_server, fake, "openai-responses", "/v1")
    client = gateway.openai()
    first = await client.responses.create(model="openai-responses/gpt-5", input="first turn")
    second = await client.responses.create(
        model="openai-responses/gpt-5", input="second turn", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert fake.requests[-1].json["previous_response_id"] == first.id


@pytest.mark.parametrize("stream", [False, True])
async def test_another_format_is_refused_naming_the_field_and_the_provider(
    gateway, aiohttp_server, stream
):
    fake = FakeAnthropicUpstream(api_key=UPSTREAM_KEY)
    await _connect(gateway, aiohttp_server, fake, "anthropic", "")
    with pytest.raises(openai.BadRequestError) as caught:
        await gateway.openai().responses.create(
            model="anthropic/claude-sonnet-4-5",
            input="second turn",
            previous_response_id="resp_0123",
            stream=stream,
        )
    error = caught.value.body
    assert error["param"] == "previous_response_id"
    assert error["code"] == "stored_state_unavailable"
    assert "'anthropic'" in error["message"] and "'input'" in error["message"]
    assert fake.requests == []
