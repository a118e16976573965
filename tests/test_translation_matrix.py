"""The conformance matrix: every client format against every upstream format, JSON and
streaming, driven by the official SDKs against fake upstreams that validate what they receive.

Each cell sends a text request (the fakes echo the last user text) and a tool request (the fakes
call the first declared tool), so system/user framing, tool definitions and tool calls cross
every pair in both modes.
"""

from __future__ import annotations

import json

import anthropic
import openai
import pytest
from anthropic import AsyncAnthropic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from omniroute.testing import Reply
from tests.conftest import UPSTREAM_KEY
from tests.fidelity.cells import CELLS, TARGETS, cell_id

PROMPT = "hello matrix"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


# -- clients ------------------------------------------------------------------------------------


async def openai_text(gw, model: str, stream: bool) -> str:
    client = gw.openai()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
    if not stream:
        reply = await client.chat.completions.create(model=model, messages=messages)
        return reply.choices[0].message.content
    chunks = await client.chat.completions.create(model=model, messages=messages, stream=True)
    return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])


async def openai_tool(gw, model: str, stream: bool) -> tuple[str, dict]:
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
    messages = [{"role": "user", "content": "weather?"}]
    client = gw.openai()
    if not stream:
        reply = await client.chat.completions.create(model=model, messages=messages, tools=[tool])
        call = reply.choices[0].message.tool_calls[0].function
        return call.name, json.loads(call.arguments)
    chunks = await client.chat.completions.create(
        model=model, messages=messages, tools=[tool], stream=True
    )
    name, arguments = "", ""
    async for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            if delta.function:
                name = delta.function.name or name
                arguments += delta.function.arguments or ""
    return name, json.loads(arguments)


def _claude(gw) -> AsyncAnthropic:
    return AsyncAnthropic(base_url=gw.url, api_key="no-key", max_retries=0)


async def anthropic_text(gw, model: str, stream: bool) -> str:
    kwargs = {
        "model": model,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": PROMPT}],
    }
    if not stream:
        message = await _claude(gw).messages.create(**kwargs)
    else:
        async with _claude(gw).messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    return "".join(block.text for block in message.content if block.type == "text")


async def anthropic_tool(gw, model: str, stream: bool) -> tuple[str, dict]:
    kwargs = {
        "model": model,
        "max_tokens": 256,
        "tools": [{"name": "get_weather", "input_schema": SCHEMA}],
        "messages": [{"role": "user", "content": "weather?"}],
    }
    if not stream:
        message = await _claude(gw).messages.create(**kwargs)
    else:
        async with _claude(gw).messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    call = next(block for block in message.content if block.type == "tool_use")
    return call.name, call.input


async def responses_text(gw, model: str, stream: bool) -> str:
    client = gw.openai()
    if not stream:
        reply = await client.responses.create(model=model, instructions="Be brief.", input=PROMPT)
        return reply.output_text
    events = await client.responses.create(
        model=model, instructions="Be brief.", input=PROMPT, stream=True
    )
    return "".join([e.delta async for e in events if e.type == "response.output_text.delta"])


async def responses_tool(gw, model: str, stream: bool) -> tuple[str, dict]:
    tool = {"type": "function", "name": "get_weather", "parameters": SCHEMA}
    client = gw.openai()
    if not stream:
        reply = await client.responses.create(model=model, input="weather?", tools=[tool])
        items = reply.output
    else:
        events = await client.responses.create(
            model=model, input="weather?", tools=[tool], stream=True
        )
        completed = [e async for e in events if e.type == "response.completed"]
        items = completed[-1].response.output
    call = next(item for item in items if item.type == "function_call")
    return call.name, json.loads(call.arguments)


def _gemini(gw) -> genai.Client:
    options = gtypes.HttpOptions(base_url=gw.url, api_version="v1beta")
    return genai.Client(api_key="no-key", http_options=options)


async def gemini_text(gw, model: str, stream: bool) -> str:
    client = _gemini(gw)
    config = gtypes.GenerateContentConfig(system_instruction="Be brief.")
    if not stream:
        reply = await client.aio.models.generate_content(
            model=f"models/{model}", contents=PROMPT, config=config
        )
        return reply.text
    chunks = await client.aio.models.generate_content_stream(
        model=f"models/{model}", contents=PROMPT, config=config
    )
    return "".join([c.text or "" async for c in chunks])


async def gemini_tool(gw, model: str, stream: bool) -> tuple[str, dict]:
    client = _gemini(gw)
    declaration = gtypes.FunctionDeclaration(name="get_weather", parameters_json_schema=SCHEMA)
    config = gtypes.GenerateContentConfig(tools=[gtypes.Tool(function_declarations=[declaration])])
    if not stream:
        reply = await client.aio.models.generate_content(
            model=f"models/{model}", contents="weather?", config=config
        )
        calls = reply.function_calls or []
    else:
        chunks = await client.aio.models.generate_content_stream(
            model=f"models/{model}", contents="weather?", config=config
        )
        calls = [call async for c in chunks for call in (c.function_calls or [])]
    return calls[0].name, dict(calls[0].args or {})


CLIENTS = {
    "openai": (openai_text, openai_tool),
    "anthropic": (anthropic_text, anthropic_tool),
    "responses": (responses_text, responses_tool),
    "gemini": (gemini_text, gemini_tool),
}


@pytest.fixture
async def connected(gateway, aiohttp_server):
    """Connect the gateway to a fake upstream of the given format; returns the model name."""

    async def connect(target_format: str) -> str:
        target = TARGETS[target_format]
        fake = target.fake(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        base = str(server.make_url(target.path)).rstrip("/")
        await gateway.connect(base, provider=target.provider)
        return f"{target.provider}/{target.model}"

    return connect


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_text_crosses_the_pair(gateway, connected, cell):
    source, target, stream = cell
    model = await connected(target)
    text = await CLIENTS[source][0](gateway, model, stream)
    assert PROMPT in text


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_tool_call_crosses_the_pair(gateway, connected, cell):
    source, target, stream = cell
    model = await connected(target)
    name, arguments = await CLIENTS[source][1](gateway, model, stream)
    assert name == "get_weather"
    assert isinstance(arguments, dict)


# -- tool results crossing every pair -----------------------------------------------------------

RESULT = "sunny-21C"


async def openai_round_trip(gw, model: str, stream: bool) -> str:
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
    client = gw.openai()
    messages: list[dict] = [{"role": "user", "content": "weather?"}]
    first = await client.chat.completions.create(model=model, messages=messages, tools=[tool])
    call = first.choices[0].message.tool_calls[0]
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": RESULT},
    ]
    if not stream:
        reply = await client.chat.completions.create(model=model, messages=messages, tools=[tool])
        return reply.choices[0].message.content or ""
    chunks = await client.chat.completions.create(
        model=model, messages=messages, tools=[tool], stream=True
    )
    return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])


async def anthropic_round_trip(gw, model: str, stream: bool) -> str:
    tools = [{"name": "get_weather", "input_schema": SCHEMA}]
    messages: list[dict] = [{"role": "user", "content": "weather?"}]
    first = await _claude(gw).messages.create(
        model=model, max_tokens=256, tools=tools, messages=messages
    )
    call = next(block for block in first.content if block.type == "tool_use")
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": RESULT}],
        },
    ]
    kwargs = {"model": model, "max_tokens": 256, "tools": tools, "messages": messages}
    if not stream:
        message = await _claude(gw).messages.create(**kwargs)
    else:
        async with _claude(gw).messages.stream(**kwargs) as events:
            message = await events.get_final_message()
    return "".join(block.text for block in message.content if block.type == "text")


async def responses_round_trip(gw, model: str, stream: bool) -> str:
    tool = {"type": "function", "name": "get_weather", "parameters": SCHEMA}
    client = gw.openai()
    first = await client.responses.create(model=model, input="weather?", tools=[tool])
    call = next(item for item in first.output if item.type == "function_call")
    history = [
        {"role": "user", "content": "weather?"},
        {
            "type": "function_call",
            "call_id": call.call_id,
            "name": call.name,
            "arguments": call.arguments,
        },
        {"type": "function_call_output", "call_id": call.call_id, "output": RESULT},
    ]
    if not stream:
        reply = await client.responses.create(model=model, input=history, tools=[tool])
        return reply.output_text
    events = await client.responses.create(model=model, input=history, tools=[tool], stream=True)
    return "".join([e.delta async for e in events if e.type == "response.output_text.delta"])


async def gemini_round_trip(gw, model: str, stream: bool) -> str:
    client = _gemini(gw)
    declaration = gtypes.FunctionDeclaration(name="get_weather", parameters_json_schema=SCHEMA)
    config = gtypes.GenerateContentConfig(tools=[gtypes.Tool(function_declarations=[declaration])])
    ask = gtypes.Content(role="user", parts=[gtypes.Part(text="weather?")])
    first = await client.aio.models.generate_content(
        model=f"models/{model}", contents=[ask], config=config
    )
    call = first.function_calls[0]
    answer = gtypes.Content(
        role="user",
        parts=[gtypes.Part.from_function_response(name=call.name, response={"result": RESULT})],
    )
    contents = [ask, first.candidates[0].content, answer]
    if not stream:
        reply = await client.aio.models.generate_content(
            model=f"models/{model}", contents=contents, config=config
        )
        return reply.text or ""
    chunks = await client.aio.models.generate_content_stream(
        model=f"models/{model}", contents=contents, config=config
    )
    return "".join([c.text or "" async for c in chunks])


ROUND_TRIPS = {
    "openai": openai_round_trip,
    "anthropic": anthropic_round_trip,
    "responses": responses_round_trip,
    "gemini": gemini_round_trip,
}


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_tool_result_round_trip_crosses_the_pair(gateway, connected, cell):
    source, target, stream = cell
    model = await connected(target)
    text = await ROUND_TRIPS[source](gateway, model, stream)
    assert RESULT in text


# -- upstream errors reach every client in its own shape ----------------------------------------


@pytest.fixture
async def failing(gateway, aiohttp_server):
    """Connect to a fake of the given format whose next answer is a 429 with a retry hint."""

    async def connect(target_format: str) -> str:
        target = TARGETS[target_format]
        fake = target.fake(api_key=UPSTREAM_KEY)
        fake.enqueue(Reply.error(429, "Rate limit reached", headers={"retry-after": "9"}))
        server = await aiohttp_server(fake.app)
        base = str(server.make_url(target.path)).rstrip("/")
        await gateway.connect(base, provider=target.provider)
        return f"{target.provider}/{target.model}"

    return connect


async def _expect_rate_limit(call) -> int | None:
    """Run a client call that must fail with a 429; return the status the SDK reports."""
    try:
        await call()
    except (openai.RateLimitError, anthropic.RateLimitError) as exc:
        assert exc.response.headers.get("retry-after") == "9"
        return exc.status_code
    except genai_errors.ClientError as exc:
        return exc.code
    raise AssertionError("the upstream's 429 did not reach the client")


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
async def test_upstream_rate_limit_reaches_the_client_in_its_own_shape(gateway, failing, cell):
    source, target, stream = cell
    model = await failing(target)
    text = CLIENTS[source][0]
    assert await _expect_rate_limit(lambda: text(gateway, model, stream)) == 429
