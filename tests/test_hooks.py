"""Every hook in ``omniroute/hookspecs.py``, exercised end to end: a small plugin registered on a
fresh plugin manager, a real gateway on a real socket, a fake upstream speaking OpenAI's wire
format. ``test_every_hookspec_has_a_test`` keeps it that way."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import aiohttp
import click
import orjson
import pytest
from aiohttp import web
from click.testing import CliRunner

import omniroute.cli
from omniroute import (
    AuthField,
    AuthFlow,
    Connection,
    DashboardPanel,
    Format,
    GatewayError,
    Middleware,
    ModelInfo,
    Provider,
    Route,
    Strategy,
    UpstreamResponse,
    hookimpl,
    hookspecs,
)
from omniroute.appkeys import REGISTRY
from omniroute.errors import ConfigError
from omniroute.plugins import get_plugin_manager
from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import UPSTREAM_KEY

HELLO = [{"role": "user", "content": "hello"}]


def with_plugin(plugin: object, name: str = "t", **kwargs: Any):
    """A fresh plugin manager (defaults plus installed plugins) with ``plugin`` registered."""
    pm = get_plugin_manager(**kwargs)
    pm.register(plugin, name=name)
    pm.check_pending()
    return pm


def registered_by(plugins: list[dict[str, Any]], name: str) -> dict[str, list[str]]:
    return next(p for p in plugins if p["name"] == name)["registered"]


async def second_upstream(aiohttp_server: Any) -> tuple[FakeOpenAIUpstream, str]:
    fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    server = await aiohttp_server(fake.app)
    return fake, str(server.make_url("/v1"))


# -- register_formats ---------------------------------------------------------------------------


class TerseFormat(Format):
    """An ``openai`` format replacement with its own error shape."""

    id = "openai"
    name = "Terse errors"

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"failure": {"kind": err.kind.value, "why": err.message}})

    def stream_error_event(self, err: GatewayError) -> bytes:
        return b"event: failure\ndata: " + orjson.dumps({"why": err.message}) + b"\n\n"


class FormatsPlugin:
    @hookimpl
    def register_formats(self, register):
        register(TerseFormat())


async def test_hook_register_formats(make_gateway):
    pm = with_plugin(FormatsPlugin(), disable=["omniroute.formats.openai"])
    gateway = await make_gateway(pm=pm)

    status, body, resp = await gateway.post(
        "/v1/chat/completions", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert status == 400
    assert resp.content_type == "application/json"
    assert body["failure"]["kind"] == "bad_request"
    assert "error" not in body

    status, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"format": ["openai"]}
    assert "omniroute.formats.openai" not in {p["name"] for p in plugins}


async def test_hook_register_formats_error_event_ends_a_failed_stream(make_gateway, upstream, fake):
    gateway = await make_gateway(
        pm=with_plugin(FormatsPlugin(), disable=["omniroute.formats.openai"])
    )
    await gateway.connect(upstream)
    fake.enqueue(Reply.cut(after_chunks=2))
    body = {"model": "openai/gpt-4o", "messages": HELLO, "stream": True}
    async with (
        aiohttp.ClientSession() as client,
        client.post(gateway.url + "/v1/chat/completions", json=body) as resp,
    ):
        assert resp.status == 200
        text = (await resp.read()).decode()
    assert text.rstrip().splitlines()[-2] == "event: failure"
    assert "upstream stream was cut" in text.rstrip().splitlines()[-1]


async def test_hook_register_formats_adds_formats_beside_the_builtin_one(make_gateway):
    class Plain(Format):
        id = "plain"
        name = "Plain text"
        error_content_type = "text/plain"

        def error_body(self, err: GatewayError) -> bytes:
            return err.message.encode()

        def stream_error_event(self, err: GatewayError) -> bytes:
            return b"data: " + err.message.encode() + b"\n\n"

    class PlainPlugin:
        @hookimpl
        def register_formats(self, register):
            register(Plain())

    gateway = await make_gateway(pm=with_plugin(PlainPlugin()))
    # Beside the four built-in ones (and any that installed provider plugins add).
    assert {"openai", "anthropic", "responses", "gemini", "plain"} <= set(
        gateway.app[REGISTRY].formats
    )
    _, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"format": ["plain"]}
    assert registered_by(plugins, "omniroute.formats.openai") == {"format": ["openai"]}


# -- register_providers -------------------------------------------------------------------------


class TeamProvider(Provider):
    """An OpenAI-compatible upstream that also wants a team header."""

    def headers(self, conn: Connection) -> dict[str, str]:
        return {**super().headers(conn), "X-Team": f"team-of-{conn.name}"}


def team_provider(**kwargs: Any) -> TeamProvider:
    return TeamProvider(
        id="team",
        name="Team AI",
        prefix="tm",
        aliases=("teamai",),
        base_url="https://api.team.example/v1",
        models=[
            ModelInfo("gpt-4o", "chat", 128000),
            ModelInfo("text-embedding-3-small", "embedding"),
        ],
        **kwargs,
    )


class ProvidersPlugin:
    @hookimpl
    def register_providers(self, register):
        register(team_provider())


async def test_hook_register_providers(make_gateway, upstream, fake):
    gateway = await make_gateway(pm=with_plugin(ProvidersPlugin()))
    await gateway.connect(upstream, provider="tm", name="blue")
    client = gateway.openai()

    reply = await client.chat.completions.create(model="tm/gpt-4o", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hello"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["X-Team"] == "team-of-blue"
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.json["model"] == "gpt-4o"

    await client.embeddings.create(model="teamai/text-embedding-3-small", input="hi")
    assert fake.requests[-1].path == "/v1/embeddings"
    assert fake.requests[-1].headers["X-Team"] == "team-of-blue"

    listed = {m.id async for m in client.models.list()}
    assert {"tm/gpt-4o", "tm/text-embedding-3-small"} <= listed
    _, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"provider": ["team"]}


# -- register_auth_flows ------------------------------------------------------------------------


def team_token(data: dict[str, Any]) -> str:
    """Team tokens are pasted as ``team:<key>``; only the key is stored."""
    token = data.get("apiKey")
    if not isinstance(token, str) or not token.startswith("team:"):
        raise ValueError("apiKey must look like 'team:<key>'")
    return token.removeprefix("team:")


class AuthFlowPlugin:
    @hookimpl
    def register_auth_flows(self, register):
        register(
            AuthFlow(
                id="team-token",
                kind="api-key",
                title="Team token",
                fields=(AuthField("apiKey", "Team token", secret=True),),
                credentials=team_token,
            )
        )

    @hookimpl
    def register_providers(self, register):
        register(team_provider(auth_flow="team-token"))


async def test_hook_register_auth_flows(make_gateway, upstream, fake):
    gateway = await make_gateway(pm=with_plugin(AuthFlowPlugin()))

    status, body = await gateway.api(
        "POST",
        "/api/providers",
        json={"provider": "tm", "apiKey": UPSTREAM_KEY, "baseUrl": upstream},
    )
    assert status == 400
    assert body["error"]["message"] == "apiKey must look like 'team:<key>'"
    assert body["error"]["param"] == "apiKey"

    created = await gateway.connect(upstream, provider="tm", api_key=f"team:{UPSTREAM_KEY}")
    assert UPSTREAM_KEY not in orjson.dumps(created).decode()
    await gateway.openai().chat.completions.create(model="tm/gpt-4o", messages=HELLO)
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"

    _, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"provider": ["team"], "auth flow": ["team-token"]}


# -- register_strategies ------------------------------------------------------------------------


class StrategyPlugin:
    """``last-first``: worst priority first, e.g. to spend a spare account before the main one."""

    def __init__(self) -> None:
        self.providers: list[str] = []

    def last_first(self, connections, ctx):
        self.providers.append(ctx.provider)
        return list(reversed(connections))

    @hookimpl
    def register_strategies(self, register):
        register(Strategy("last-first", "account", self.last_first, "Lowest priority first."))


async def test_hook_register_strategies(make_gateway, upstream, fake, aiohttp_server):
    spare, spare_url = await second_upstream(aiohttp_server)
    plugin = StrategyPlugin()
    pm = with_plugin(plugin)
    default = await make_gateway(pm=pm)
    chosen = await make_gateway(pm=pm, account_strategy="last-first")
    for gateway in (default, chosen):
        await gateway.connect(upstream, name="main", priority=1)
        await gateway.connect(spare_url, name="spare", priority=2)

    await default.openai().chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    assert (len(fake.requests), len(spare.requests)) == (1, 0)
    assert plugin.providers == []
    await chosen.openai().chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    assert (len(fake.requests), len(spare.requests)) == (1, 1)
    assert plugin.providers == ["openai"]

    _, plugins = await chosen.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"strategy": ["account:last-first"]}


async def test_hook_register_strategies_unknown_setting_fails_at_startup(make_gateway):
    with pytest.raises(ConfigError, match=r"unknown account strategy 'nope'.*fill-first"):
        await make_gateway(account_strategy="nope")


# -- register_middlewares -----------------------------------------------------------------------


class MiddlewarePlugin:
    """Records every attempt and tags its request."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str, str]] = []

    async def record(self, attempt, call_next):
        self.attempts.append((attempt.connection.name, attempt.url, attempt.body["model"]))
        resp = await call_next(attempt)
        self.attempts.append((attempt.connection.name, "status", str(resp.status)))
        return resp

    async def tag(self, attempt, call_next):
        attempt.headers["X-Request-Id"] = attempt.request_id
        return await call_next(attempt)

    @hookimpl
    def register_middlewares(self, register):
        register(Middleware("tag", self.tag, order=200))
        register(Middleware("record", self.record, order=10))


async def test_hook_register_middlewares(make_gateway, upstream, fake):
    plugin = MiddlewarePlugin()
    gateway = await make_gateway(pm=with_plugin(plugin))
    await gateway.connect(upstream, name="first", priority=1)
    await gateway.connect(upstream, name="second", priority=2)
    fake.enqueue(Reply.error(429, "Rate limit reached"))

    reply = await gateway.openai().chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hello"
    url = upstream + "/chat/completions"
    assert plugin.attempts == [
        ("first", url, "gpt-4o"),
        ("first", "status", "429"),
        ("second", url, "gpt-4o"),
        ("second", "status", "200"),
    ]
    ids = [r.headers["X-Request-Id"] for r in fake.requests]
    assert len(ids) == 2 and ids[0] == ids[1] and len(ids[0]) == 32

    _, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"middleware": ["tag", "record"]}


CACHED_COMPLETION = {
    "id": "chatcmpl-cached",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "from the cache"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
}


def cached_stream() -> bytes:
    chunk = {**CACHED_COMPLETION, "object": "chat.completion.chunk"}
    events = [
        {**chunk, "choices": [{"index": 0, "delta": {"content": "from "}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": "cache"}, "finish_reason": None}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


class CachePlugin:
    """Answers "cached?" by itself: the upstream is never called."""

    async def cache(self, attempt, call_next):
        if attempt.body["messages"][-1]["content"] != "cached?":
            return await call_next(attempt)
        if attempt.stream:
            return UpstreamResponse(200, {"Content-Type": "text/event-stream"}, cached_stream())
        return UpstreamResponse(
            200, {"Content-Type": "application/json"}, orjson.dumps(CACHED_COMPLETION)
        )

    @hookimpl
    def register_middlewares(self, register):
        register(Middleware("cache", self.cache, order=5))


async def test_hook_register_middlewares_can_answer_without_the_upstream(
    make_gateway, upstream, fake
):
    gateway = await make_gateway(pm=with_plugin(CachePlugin()))
    await gateway.connect(upstream)
    client = gateway.openai()
    ask = [{"role": "user", "content": "cached?"}]

    reply = await client.chat.completions.create(model="openai/gpt-4o", messages=ask)
    assert reply.choices[0].message.content == "from the cache"
    stream = await client.chat.completions.create(model="openai/gpt-4o", messages=ask, stream=True)
    pieces = [c.choices[0].delta.content async for c in stream if c.choices]
    assert "".join(p or "" for p in pieces) == "from cache"
    assert fake.requests == []

    await client.chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    assert len(fake.requests) == 1


# -- register_routes ----------------------------------------------------------------------------


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": request.match_info["name"]})


async def secret_stats(request: web.Request) -> web.Response:
    return web.json_response({"plugins": len(request.config_dict[REGISTRY].contributions)})


class RoutesPlugin:
    @hookimpl
    def register_routes(self, register):
        register(Route("GET", "/hello/{name}", hello, name="hello"))
        register(Route("GET", "/api/team/stats", secret_stats))


async def test_hook_register_routes(make_gateway):
    gateway = await make_gateway(pm=with_plugin(RoutesPlugin()))
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(gateway.url + "/hello/world") as resp:
            assert resp.status == 200
            assert await resp.json() == {"hello": "world"}
        async with anonymous.get(gateway.url + "/api/team/stats") as resp:
            assert resp.status == 401  # /api/* needs the dashboard session, plugin routes too
    status, body = await gateway.api("GET", "/api/team/stats")
    assert status == 200 and body["plugins"] >= 1
    assert gateway.app.router["hello"].url_for(name="x").path == "/hello/x"

    _, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"route": ["GET /hello/{name}", "GET /api/team/stats"]}


# -- register_dashboard_panels ------------------------------------------------------------------


class PanelPlugin:
    @hookimpl
    def register_dashboard_panels(self, register):
        register(
            DashboardPanel(
                id="team-usage",
                title="Team usage",
                page="team_usage:panel.js",
                icon="chart",
                order=50,
                api_routes=("GET /api/usage",),
            )
        )


async def test_hook_register_dashboard_panels(make_gateway):
    gateway = await make_gateway(pm=with_plugin(PanelPlugin()))
    panel = gateway.app[REGISTRY].panels["team-usage"]
    assert (panel.title, panel.page, panel.api_routes) == (
        "Team usage",
        "team_usage:panel.js",
        ("GET /api/usage",),
    )
    _, plugins = await gateway.api("GET", "/api/plugins")
    assert registered_by(plugins, "t") == {"dashboard panel": ["team-usage"]}
    info = next(p for p in plugins if p["name"] == "t")
    assert info["hooks"] == ["register_dashboard_panels"]


# -- register_commands --------------------------------------------------------------------------


class CommandsPlugin:
    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        @click.argument("name")
        def greet(name):
            """Say hello from a plugin."""
            click.echo(f"hello {name} from a plugin")


def test_hook_register_commands(monkeypatch):
    pm = with_plugin(CommandsPlugin())
    monkeypatch.setattr(omniroute.cli, "get_plugin_manager", lambda: pm)
    cli = omniroute.cli.build_cli()
    runner = CliRunner()

    result = runner.invoke(cli, ["greet", "world"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello world from a plugin\n"
    listing = runner.invoke(cli, ["--help"])
    assert "greet" in listing.output and "Say hello from a plugin." in listing.output


class HijackPlugin:
    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        def run():
            """Not the gateway."""
            click.echo("hijacked")


def test_hook_register_commands_cannot_replace_a_builtin_command(monkeypatch):
    # Like every other registered id, a command name is claimed once: a plugin that silently
    # replaced `omniroute run` would change what the user's service starts.
    pm = with_plugin(HijackPlugin(), name="hijack")
    monkeypatch.setattr(omniroute.cli, "get_plugin_manager", lambda: pm)
    with pytest.raises(ConfigError, match="run") as caught:
        omniroute.cli.build_cli()
    assert "'hijack'" in str(caught.value)


# -- the meta-test ------------------------------------------------------------------------------


def hookspec_names() -> set[str]:
    marker = f"{hookspecs.PROJECT}_spec"
    return {
        name
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if getattr(fn, marker, None) is not None
    }


def test_every_hookspec_has_a_test():
    names = hookspec_names()
    assert len(names) >= 8  # the surface of DESIGN §2
    tests = {name for name, _ in inspect.getmembers(sys.modules[__name__], inspect.isfunction)}
    missing = sorted(name for name in names if f"test_hook_{name}" not in tests)
    assert missing == [], f"hooks without a test_hook_<name> test: {missing}"


def test_every_hookspec_documents_itself():
    for name in hookspec_names():
        assert inspect.getdoc(getattr(hookspecs, name)), f"hookspec {name} has no docstring"
