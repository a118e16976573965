"""Bad input and upstream failures become clear errors in the OpenAI error shape."""

from __future__ import annotations

import socket

import openai
import pytest

from omniroute.testing import Reply
from tests.conftest import UPSTREAM_KEY

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def error_of(body: dict) -> dict:
    """The error object, after checking the answer has exactly the OpenAI error shape."""
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code", "param"}
    return body["error"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_malformed_json_is_400(gateway):
    status, body, _ = await gateway.post(
        CHAT, data=b'{"model": "x", ', headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert "not valid JSON" in error_of(body)["message"]


async def test_json_that_is_not_an_object_is_400(gateway):
    status, body, _ = await gateway.post(CHAT, json=["model", "x"])
    assert status == 400 and "JSON object" in error_of(body)["message"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"messages": HI}, "model"),
        ({"model": 42, "messages": HI}, "model"),
        ({"model": "openai/gpt-5"}, "messages"),
        ({"model": "openai/gpt-5", "messages": []}, "messages"),
        ({"model": "openai/gpt-5", "messages": "hi"}, "messages"),
        ({"model": "openai/gpt-5", "messages": ["hi"]}, "messages[0]"),
        ({"model": "openai/gpt-5", "messages": [{"role": "robot"}]}, "messages[0].role"),
        ({"model": "openai/gpt-5", "messages": HI, "temperature": 3}, "temperature"),
        ({"model": "openai/gpt-5", "messages": HI, "temperature": "hot"}, "temperature"),
        ({"model": "openai/gpt-5", "messages": HI, "top_p": 1.5}, "top_p"),
        ({"model": "openai/gpt-5", "messages": HI, "n": 0}, "n"),
        ({"model": "openai/gpt-5", "messages": HI, "max_tokens": -1}, "max_tokens"),
        ({"model": "openai/gpt-5", "messages": HI, "stream": "yes"}, "stream"),
        ({"model": "openai/gpt-5", "messages": HI, "tools": {}}, "tools"),
    ],
)
async def test_wrong_or_missing_field_is_400_naming_it(gateway, upstream, payload, param):
    await gateway.connect(upstream)
    status, body, _ = await gateway.post(CHAT, json=payload)
    assert status == 400
    error = error_of(body)
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert param.split("[")[0] in error["message"]


async def test_unknown_model_is_404_model_not_found(gateway, upstream):
    await gateway.connect(upstream)
    with pytest.raises(openai.NotFoundError) as caught:
        await gateway.openai().chat.completions.create(model="nope/x-1", messages=HI)
    assert caught.value.body["code"] == "model_not_found"
    assert "GET /v1/models" in caught.value.body["message"]


async def test_provider_without_active_connection_is_503_naming_it(gateway):
    with pytest.raises(openai.InternalServerError) as caught:
        await gateway.openai().chat.completions.create(model="groq/llama-3.3-70b", messages=HI)
    assert caught.value.status_code == 503
    assert "'groq'" in caught.value.body["message"]


async def test_unreachable_upstream_is_502(gateway):
    await gateway.connect(f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(openai.InternalServerError) as caught:
        await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert caught.value.status_code == 502
    assert "unreachable" in caught.value.body["message"]


async def test_upstream_timeout_is_504(make_gateway, upstream, fake):
    gateway = await make_gateway(read_timeout=0.3)
    await gateway.connect(upstream)
    fake.enqueue(Reply.hang(5))
    with pytest.raises(openai.InternalServerError) as caught:
        await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert caught.value.status_code == 504


async def test_upstream_4xx_keeps_status_and_message(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(
        Reply.error(
            400,
            "This model's maximum context length is 128000 tokens.",
            type="invalid_request_error",
            code="context_length_exceeded",
            param="messages",
        )
    )
    with pytest.raises(openai.BadRequestError) as caught:
        await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert "maximum context length" in caught.value.body["message"]
    assert caught.value.body["code"] == "context_length_exceeded"


async def test_upstream_error_echoing_the_key_is_redacted(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.error(422, f"bad request for key {UPSTREAM_KEY}"))
    status, body, _ = await gateway.post(CHAT, json={"model": "openai/gpt-5", "messages": HI})
    assert status == 422
    assert UPSTREAM_KEY not in str(body)
    assert "bad request for key" in error_of(body)["message"]


async def test_body_over_10_mb_is_413(gateway, upstream):
    await gateway.connect(upstream)
    big = {"model": "openai/gpt-5", "messages": [{"role": "user", "content": "x" * 11_000_000}]}
    status, body, _ = await gateway.post(CHAT, json=big)
    assert status == 413
    assert "10 MB" in error_of(body)["message"]


async def test_rate_limit_passes_retry_after_to_the_client(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.error(429, "Rate limit reached", headers={"retry-after": "7"}))
    with pytest.raises(openai.RateLimitError) as caught:
        await gateway.openai().chat.completions.create(model="openai/gpt-5", messages=HI)
    assert caught.value.response.headers["retry-after"] == "7"


async def test_missing_client_key_is_401_when_keys_are_required(make_gateway, upstream):
    gateway = await make_gateway(require_api_key=True)
    await gateway.connect(upstream)
    with pytest.raises(openai.AuthenticationError) as caught:
        await gateway.openai(api_key="sk-omni-wrong").chat.completions.create(
            model="openai/gpt-5", messages=HI
        )
    assert caught.value.body["code"] == "invalid_api_key"
    status, body, _ = await gateway.post(CHAT, json={"model": "openai/gpt-5", "messages": HI})
    assert status == 401 and "missing API key" in error_of(body)["message"]


@pytest.mark.parametrize("header", ["Authorization", "x-api-key", "x-goog-api-key", "query"])
async def test_client_key_is_accepted_from_every_header_clients_use(make_gateway, upstream, header):
    gateway = await make_gateway(require_api_key=True)
    await gateway.connect(upstream)
    key = await gateway.create_key()
    headers, path = {}, CHAT
    if header == "Authorization":
        headers[header] = f"Bearer {key}"
    elif header == "query":
        path = f"{CHAT}?key={key}"
    else:
        headers[header] = key
    status, body, _ = await gateway.post(
        path, json={"model": "openai/gpt-5", "messages": HI}, headers=headers
    )
    assert status == 200, body


async def test_models_list_needs_a_key_when_keys_are_required(make_gateway, upstream):
    gateway = await make_gateway(require_api_key=True)
    await gateway.connect(upstream)
    with pytest.raises(openai.AuthenticationError):
        await gateway.openai().models.list()
    key = await gateway.create_key()
    models = await gateway.openai(api_key=key).models.list()
    assert "openai/gpt-5" in [m.id async for m in models]
