"""``examples/omniroute-example``, the third-party provider plugin that
``docs/writing-a-provider-plugin.md`` walks through, loaded through a real entry point into a real
gateway."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import importlib_metadata
import pytest

from omniroute.plugins import build_registry, describe_plugins, get_plugin_manager
from omniroute.testing import Reply
from tests.conftest import UPSTREAM_KEY

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "omniroute-example"
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def pm(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))
    ep = importlib_metadata.EntryPoint(
        name="omniroute-example", value="omniroute_example", group="omniroute"
    )
    return get_plugin_manager(entry_points=[ep])


def test_the_entry_point_used_here_is_the_one_the_package_declares():
    project = tomllib.loads((EXAMPLE_DIR / "pyproject.toml").read_text())["project"]
    assert project["name"] == "omniroute-example"
    assert project["entry-points"]["omniroute"] == {"omniroute-example": "omniroute_example"}
    assert "omniroute>=0.1.0" in project["dependencies"]


def test_the_example_is_a_few_dozen_lines_of_public_api():
    source = (EXAMPLE_DIR / "omniroute_example.py").read_text()
    assert len(source.splitlines()) <= 60
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert {m for m in imported if m and m.startswith("omniroute")} == {"omniroute"}


def test_the_example_registers_its_provider(pm):
    registry = build_registry(pm)
    provider = registry.prefixes["ex"]
    assert provider.id == "example"
    assert [(m.id, m.type) for m in provider.models] == [
        ("example-chat-1", "chat"),
        ("example-embed-1", "embedding"),
    ]
    info = {p["name"]: p for p in describe_plugins(pm, registry)}["omniroute-example"]
    assert info["registered"] == {"provider": ["example"]}
    assert info["hooks"] == ["register_providers"]


async def test_a_request_for_ex_reaches_the_upstream_with_the_custom_header(
    pm, make_gateway, upstream, fake
):
    gateway = await make_gateway(pm=pm)
    await gateway.connect(upstream, provider="ex")
    client = gateway.openai()

    reply = await client.chat.completions.create(model="ex/example-chat-1", messages=HELLO)
    assert reply.choices[0].message.content == "echo: hello"
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["X-Example-Client"] == "omniroute"
    assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.json["model"] == "example-chat-1"

    await client.embeddings.create(model="ex/example-embed-1", input="hello")
    assert fake.requests[-1].headers["X-Example-Client"] == "omniroute"

    listed = {m.id async for m in client.models.list()}
    assert {"ex/example-chat-1", "ex/example-embed-1"} <= listed
    status, plugins = await gateway.api("GET", "/api/plugins")
    assert status == 200 and "omniroute-example" in {p["name"] for p in plugins}


async def test_the_examples_402_moves_the_request_to_the_next_account(
    pm, make_gateway, upstream, fake
):
    gateway = await make_gateway(pm=pm)
    await gateway.connect(upstream, provider="ex", name="spent", priority=1)
    await gateway.connect(upstream, provider="ex", name="funded", priority=2)
    fake.enqueue(Reply.error(402, "Insufficient balance"))
    reply = await gateway.openai().chat.completions.create(
        model="ex/example-chat-1", messages=HELLO
    )
    assert reply.choices[0].message.content == "echo: hello"
    assert len(fake.requests) == 2


def test_the_examples_own_tests_pass():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=EXAMPLE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


@pytest.mark.parametrize(
    "name", ["pyproject.toml", "omniroute_example.py", "tests/test_omniroute_example.py"]
)
def test_the_guide_shows_the_example_as_it_is(name):
    guide = (EXAMPLE_DIR.parents[1] / "docs" / "writing-a-provider-plugin.md").read_text()
    assert (EXAMPLE_DIR / name).read_text().rstrip("\n") in guide
