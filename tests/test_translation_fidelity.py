"""The fidelity rows of the translation matrix: every client SDK against every upstream format,
JSON and streaming, one feature per test.

Request rows say something with the client's SDK and check what the fake upstream received, in
the upstream's own terms (system blocks, images, tool choice, reasoning effort, JSON schema, stop
sequences, max tokens). Answer rows script the upstream's reply in its own wire format and check
what the client's SDK hands back (parallel tool calls, reasoning text, usage with cached and
reasoning tokens, stop reasons). The vocabulary and both sides live in ``tests/fidelity/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import UPSTREAM_KEY
from tests.fidelity.cells import CELLS, TARGETS, Cell, cell_id
from tests.fidelity.clients import CLIENTS, REASONING_TOKENS
from tests.fidelity.upstreams import UPSTREAMS
from tests.fidelity.vocab import IMAGE_URL, PNG, SCHEMA, Ask, Observed, Script, Seen, Tokens

NO_STOP = "the Responses API has no stop sequences"


class Pair:
    """One cell wired up: the gateway, the fake upstream of the target format, the model."""

    def __init__(self, gw: Any, fake: Any, cell: Cell) -> None:
        self.gw, self.fake = gw, fake
        self.source, self.target, self.stream = cell
        self.model = f"{TARGETS[self.target].provider}/{TARGETS[self.target].model}"

    async def ask(self, ask: Ask) -> Observed:
        """Send ``ask`` with the client's SDK; what the SDK handed back."""
        return await CLIENTS[self.source](self.gw, self.model, self.stream, ask)

    async def seen(self, ask: Ask) -> Seen:
        """Send ``ask``; what the upstream received."""
        await self.ask(ask)
        request = self.fake.requests[-1]
        return UPSTREAMS[self.target].read(request.json)

    async def answer(self, script: Script, ask: Ask | None = None) -> Observed:
        """Have the upstream answer with ``script``; what the client's SDK handed back."""
        upstream_model = TARGETS[self.target].model
        self.fake.enqueue(UPSTREAMS[self.target].script(script, upstream_model, self.stream))
        return await self.ask(ask or Ask())


@pytest.fixture
async def wired(gateway, aiohttp_server) -> Callable[[Cell], Awaitable[Pair]]:
    """Connect the gateway to a fresh fake of the cell's target format."""

    async def wire(cell: Cell) -> Pair:
        target = TARGETS[cell[1]]
        fake = target.fake(api_key=UPSTREAM_KEY)
        server = await aiohttp_server(fake.app)
        await gateway.connect(
            str(server.make_url(target.path)).rstrip("/"), provider=target.provider
        )
        return Pair(gateway, fake, cell)

    return wire


cells = pytest.mark.parametrize("cell", CELLS, ids=cell_id)

# -- what the upstream receives -----------------------------------------------------------------


@cells
async def test_system_blocks_reach_the_upstream_in_order(wired, cell):
    seen = await (await wired(cell)).seen(Ask(system=("Rule one.", "Rule two.")))
    assert "Rule one." in seen.system
    assert seen.system.index("Rule one.") < seen.system.index("Rule two.")
    assert seen.user_text == "hello fidelity"


@cells
async def test_base64_image_reaches_the_upstream(wired, cell):
    seen = await (await wired(cell)).seen(Ask(image=("base64", PNG)))
    assert seen.images == (("base64", PNG),)


@cells
async def test_image_url_reaches_the_upstream(wired, cell):
    seen = await (await wired(cell)).seen(Ask(image=("url", IMAGE_URL)))
    assert seen.images == (("url", IMAGE_URL),)


TOOLS = ("get_weather", "get_time")


@cells
@pytest.mark.parametrize("choice", ["auto", "none", "required", "tool:get_time"])
async def test_tool_choice_reaches_the_upstream_and_is_obeyed(wired, cell, choice):
    pair = await wired(cell)
    seen = await pair.seen(Ask(tools=TOOLS, tool_choice=choice))
    assert seen.tool_names == TOOLS
    # Leaving tool_choice out is how some formats say "auto".
    assert seen.tool_choice == choice or (choice == "auto" and seen.tool_choice is None)
    # The fakes obey the choice like the real APIs: no call, any call, or the named one.
    observed = await pair.ask(Ask(tools=TOOLS, tool_choice=choice))
    names = [name for name, _args in observed.calls]
    expected = {"none": [], "tool:get_time": ["get_time"]}.get(choice, ["get_weather"])
    assert names == expected


@cells
async def test_reasoning_effort_maps_to_the_upstreams_own_knob(wired, cell):
    seen = await (await wired(cell)).seen(Ask(effort="low"))
    assert seen.effort == "low"


@cells
async def test_json_schema_reaches_the_upstream(wired, cell):
    seen = await (await wired(cell)).seen(Ask(schema=SCHEMA))
    assert seen.schema == SCHEMA


@cells
async def test_stop_sequences_reach_the_upstream(wired, cell):
    if "responses" in cell[:2]:
        pytest.skip(NO_STOP)
    seen = await (await wired(cell)).seen(Ask(stop=("HALT", "END")))
    assert seen.stop == ("HALT", "END")


@cells
async def test_max_tokens_reach_the_upstream(wired, cell):
    seen = await (await wired(cell)).seen(Ask(max_tokens=64))
    assert seen.max_tokens == 64


# -- what the client gets back ------------------------------------------------------------------

GEMINI_CLIENT_ACROSS = {("gemini", t) for t in ("openai", "anthropic", "responses")}
CALLS = (("get_weather", {"city": "Paris"}), ("get_time", {"city": "Oslo"}))


@cells
async def test_parallel_tool_calls_reach_the_client(wired, cell):
    pair = await wired(cell)
    observed = await pair.answer(Script(calls=CALLS, finish="tool"), Ask(tools=TOOLS))
    assert observed.calls == list(CALLS)
    assert observed.finish == "tool"


@cells
async def test_reasoning_text_reaches_the_client(wired, cell):
    pair = await wired(cell)
    observed = await pair.answer(
        Script(text="blue", reasoning="pondering the sky"), Ask(effort="low")
    )
    assert observed.reasoning == "pondering the sky"
    assert observed.text == "blue"
    assert observed.finish == "stop"


# Gemini itself sends no thoughts unasked, so the gemini->gemini pass-through has nothing to drop.
@pytest.mark.parametrize("cell", [c for c in CELLS if c[:2] in GEMINI_CLIENT_ACROSS], ids=cell_id)
async def test_gemini_clients_get_thoughts_only_when_they_ask(wired, cell):
    pair = await wired(cell)
    observed = await pair.answer(Script(text="blue", reasoning="pondering the sky"))
    assert (observed.reasoning, observed.text) == ("", "blue")


@cells
async def test_usage_with_cached_and_reasoning_tokens_reaches_the_client(wired, cell):
    pair = await wired(cell)
    observed = await pair.answer(Script(text="counted", usage=Tokens(100, 40, 30, 12)))
    assert observed.usage is not None
    assert (observed.usage.input, observed.usage.cached, observed.usage.output) == (100, 40, 30)
    if REASONING_TOKENS[pair.source] and UPSTREAMS[pair.target].reasoning_tokens:
        assert observed.usage.reasoning == 12


@cells
async def test_a_length_cut_reaches_the_client_as_its_own_stop_reason(wired, cell):
    pair = await wired(cell)
    observed = await pair.answer(Script(text="cut short", finish="length"))
    assert observed.text == "cut short"
    assert observed.finish == "length"
