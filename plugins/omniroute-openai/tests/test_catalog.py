"""omniroute-openai: its catalogue, the provider objects it registers through its entry point,
the ``openai-compatible`` node template, and how connections are checked.

These tests use only the kernel's public API and ``omniroute.testing``, like any third-party
provider package would.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import omniroute_openai
import pytest
from omniroute_openai.catalog import PROVIDERS

from omniroute import Connection, Endpoint, ModelInfo, Provider, ProviderNode, Secret
from omniroute.plugins import Registry, build_registry, get_plugin_manager
from omniroute.providers import MODEL_TYPES
from omniroute.testing import FakeOpenAIUpstream, Reply

KEY = "sk-catalog-test-key-0001"

#: Issue 2, Must 3: every provider this package must ship, with the prefix users type.
REQUIRED = {
    "openai": "openai",
    "deepseek": "ds",
    "groq": "groq",
    "xai": "xai",
    "mistral": "mistral",
    "perplexity": "pplx",
    "together": "together",
    "fireworks": "fireworks",
    "cerebras": "cerebras",
    "cohere": "cohere",
    "nvidia": "nvidia",
    "openrouter": "openrouter",
    "kimi": "kimi",
    "glm": "glm",
    "minimax": "minimax",
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """What the package registers when loaded through its installed entry point."""
    return build_registry(get_plugin_manager(load=["omniroute-openai"]))


def connection(provider: Provider, base_url: str | None = None, **kwargs: Any) -> Connection:
    return Connection(
        id="c1", provider=provider.id, name="test", api_key=Secret(KEY), base_url=base_url, **kwargs
    )


@pytest.fixture
def fake() -> FakeOpenAIUpstream:
    return FakeOpenAIUpstream(api_key=KEY, models=["sonar", "model-a", "model-b"])


@pytest.fixture
async def upstream(fake: FakeOpenAIUpstream, aiohttp_server: Any) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/v1"))


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


# -- the catalogue ------------------------------------------------------------------------------


def test_the_package_is_found_through_its_entry_point():
    pm = get_plugin_manager(load=["omniroute-openai"])
    assert pm.get_plugin("omniroute-openai") is omniroute_openai
    assert pm.distributions["omniroute-openai"].name == "omniroute-openai"


@pytest.mark.parametrize(("provider_id", "prefix"), sorted(REQUIRED.items()))
def test_every_required_provider_is_registered_under_its_prefix(registry, provider_id, prefix):
    provider = registry.providers[provider_id]
    assert provider.prefix == prefix
    assert registry.prefixes[prefix] is provider
    assert registry.prefixes[provider_id] is provider
    assert provider.format == "openai"
    assert provider.auth_flow == "api-key"
    assert not provider.template


@pytest.mark.parametrize("provider_id", sorted(REQUIRED))
def test_every_required_provider_has_an_https_base_url(registry, provider_id):
    url = urlparse(registry.providers[provider_id].base_url)
    assert url.scheme == "https"
    assert url.netloc and not url.query and not url.fragment
    assert not url.path.endswith("/")


@pytest.mark.parametrize("provider_id", sorted(REQUIRED))
def test_every_required_provider_has_a_chat_model(registry, provider_id):
    provider = registry.providers[provider_id]
    assert any(m.type == "chat" for m in provider.models)
    assert provider.default_model(connection(provider)) == next(
        m.id for m in provider.models if m.type == "chat"
    )


@pytest.mark.parametrize("entry", PROVIDERS, ids=[e["id"] for e in PROVIDERS])
def test_catalogue_entries_are_well_formed(entry):
    assert set(entry) == {
        "id",
        "prefix",
        "aliases",
        "name",
        "base_url",
        "docs_url",
        "stream_usage",
        "models",
    }
    assert entry["prefix"] == entry["prefix"].lower() and "/" not in entry["prefix"]
    assert all(a == a.lower() and "/" not in a for a in entry["aliases"])
    assert urlparse(entry["docs_url"]).scheme == "https"
    assert isinstance(entry["stream_usage"], bool)
    ids = [model_id for model_id, _, _ in entry["models"]]
    assert len(ids) == len(set(ids)), "duplicate model id"
    for model_id, model_type, context in entry["models"]:
        assert model_id and model_id == model_id.strip()
        assert model_type in MODEL_TYPES
        assert context is None or (isinstance(context, int) and context > 0)
        if model_type == "image":
            assert context is None


def test_prefixes_and_aliases_are_unique_across_the_catalogue():
    names = [n for e in PROVIDERS for n in {e["id"], e["prefix"], *e["aliases"]}]
    assert len(names) == len(set(names))


def test_provider_objects_carry_the_catalogue(registry):
    for entry in PROVIDERS:
        provider = registry.providers[entry["id"]]
        assert provider.name == entry["name"]
        assert provider.aliases == tuple(entry["aliases"])
        assert provider.stream_usage is entry["stream_usage"]
        assert [(m.id, m.type, m.context_length) for m in provider.models] == entry["models"]
        for alias in entry["aliases"]:
            assert registry.prefixes[alias] is provider


def test_providers_that_reject_stream_options_do_not_get_them(registry):
    assert registry.providers["mistral"].stream_usage is False
    assert registry.providers["cohere"].stream_usage is False
    assert registry.providers["openai"].stream_usage is True


# -- addressing and signing ---------------------------------------------------------------------


def test_requests_go_to_openai_paths_under_the_base_url(registry):
    groq = registry.providers["groq"]
    conn = connection(groq)
    assert groq.url(conn, Endpoint.CHAT) == "https://api.groq.com/openai/v1/chat/completions"
    assert groq.url(conn, Endpoint.EMBEDDINGS) == "https://api.groq.com/openai/v1/embeddings"
    assert groq.url(conn, Endpoint.MODELS) == "https://api.groq.com/openai/v1/models"
    deepseek = registry.providers["deepseek"]
    assert deepseek.url(connection(deepseek), Endpoint.CHAT) == (
        "https://api.deepseek.com/chat/completions"
    )


def test_a_connection_base_url_overrides_the_providers(registry):
    openai = registry.providers["openai"]
    conn = connection(openai, base_url="http://proxy.internal:8080/v1/")
    assert openai.url(conn, Endpoint.IMAGES) == "http://proxy.internal:8080/v1/images/generations"


def test_requests_are_signed_with_a_bearer_key(registry):
    headers = registry.providers["xai"].headers(connection(registry.providers["xai"]))
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"


def test_a_connection_default_model_wins(registry):
    kimi = registry.providers["kimi"]
    assert kimi.default_model(connection(kimi, default_model="moonshot-v1-8k")) == "moonshot-v1-8k"
    openai = registry.providers["openai"]
    assert openai.default_model(connection(openai), Endpoint.EMBEDDINGS) == (
        "text-embedding-3-small"
    )
    assert openai.default_model(connection(openai), Endpoint.IMAGES) == "gpt-image-1.5"


def test_quota_errors_are_told_apart_from_rate_limits(registry):
    openai = registry.providers["openai"]
    quota = (
        b'{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}'
    )
    limit = b'{"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}'
    assert openai.classify_error(429, {}, quota).kind == "quota_exhausted"
    err = openai.classify_error(429, {"retry-after": "7"}, limit)
    assert (err.kind, err.retry_after) == ("rate_limited", 7.0)


# -- the node template --------------------------------------------------------------------------


def test_the_openai_compatible_template_is_registered_but_not_routable(registry):
    template = registry.templates["openai-compatible"]
    assert template.template is True
    assert "openai-compatible" not in registry.providers
    assert "openai-compatible" not in registry.prefixes


def test_a_node_built_from_the_template_has_the_nodes_prefix_url_and_models(registry):
    template = registry.templates["openai-compatible"]
    node = ProviderNode(
        id="node-1",
        name="Local vLLM",
        prefix="vllm",
        type="openai-compatible",
        base_url="http://10.0.0.5:8000/v1/",
        models=(ModelInfo("qwen3-32b", "chat", 32768), ModelInfo("bge-m3", "embedding")),
    )
    provider = template.for_node(node)
    assert type(provider) is type(template)
    assert (provider.id, provider.name, provider.prefix) == ("node-1", "Local vLLM", "vllm")
    assert provider.base_url == "http://10.0.0.5:8000/v1"
    assert provider.models == node.models
    assert provider.template is False and provider.aliases == ()
    assert provider.url(connection(provider), Endpoint.CHAT) == (
        "http://10.0.0.5:8000/v1/chat/completions"
    )
    assert template.template is True and template.prefix == "openai-compatible"  # untouched


# -- checking a connection ----------------------------------------------------------------------


async def test_perplexity_is_checked_with_a_one_token_chat(registry, upstream, fake, session):
    perplexity = registry.providers["perplexity"]
    result = await perplexity.check(session, connection(perplexity, base_url=upstream))
    assert result.ok, result.error
    assert result.status == 200 and result.latency_ms > 0
    assert result.models == ["sonar"]
    assert [(r.method, r.path) for r in fake.requests] == [("POST", "/v1/chat/completions")]
    sent = fake.requests[0]
    assert sent.json["max_tokens"] == 1 and sent.json["model"] == "sonar"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"


async def test_a_failed_perplexity_check_reports_the_upstream_error(
    registry, upstream, fake, session
):
    fake.enqueue(Reply.error(401, "Invalid API key provided", code="invalid_api_key"))
    perplexity = registry.providers["perplexity"]
    result = await perplexity.check(session, connection(perplexity, base_url=upstream))
    assert not result.ok
    assert (result.status, result.error) == (401, "Invalid API key provided")


@pytest.mark.parametrize("provider_id", sorted(set(REQUIRED) - {"perplexity"}))
async def test_other_providers_are_checked_by_listing_models(
    registry, upstream, fake, session, provider_id
):
    provider = registry.providers[provider_id]
    result = await provider.check(session, connection(provider, base_url=upstream))
    assert result.ok, result.error
    assert result.models == ["sonar", "model-a", "model-b"]
    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/v1/models")]


async def test_a_check_with_a_wrong_key_fails_with_the_upstreams_message(
    registry, upstream, session
):
    groq = registry.providers["groq"]
    conn = Connection(
        id="c1",
        provider="groq",
        name="bad",
        api_key=Secret("sk-wrong-key-000000"),
        base_url=upstream,
    )
    result = await groq.check(session, conn)
    assert not result.ok and result.status == 401
    assert "Incorrect API key" in (result.error or "")


# -- the public-API rule --------------------------------------------------------------------------


def test_the_package_imports_only_the_kernels_public_api():
    package = Path(omniroute_openai.__file__).parent
    offending = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            offending += [f"{path.name}: {n}" for n in names if n.startswith("omniroute.")]
    assert offending == []
