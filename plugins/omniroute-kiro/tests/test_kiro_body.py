"""The CodeWhisperer request body rendered from the IR, the kr/ provider, and the fake's checks."""

from __future__ import annotations

import orjson
import pytest
from kiro_helpers import ACCESS_TOKEN, PROFILE_ARN, credentials
from omniroute_kiro import KiroProvider, device_flow, render_body

from omniroute import BadRequest, Connection, Endpoint, ErrorKind, Secret
from omniroute.formats import ir
from omniroute.plugins import build_registry, get_plugin_manager
from omniroute.testing.fake_kiro import KIRO_MODELS, OPERATION, KiroApiError, validate

MODEL = "claude-sonnet-4.5"
WEATHER = ir.Tool(
    "get_weather",
    "Current weather",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def user(*parts: ir.Part) -> ir.Message:
    return ir.Message("user", list(parts))


def assistant(*parts: ir.Part) -> ir.Message:
    return ir.Message("assistant", list(parts))


def text(value: str) -> ir.TextPart:
    return ir.TextPart(value)


def request(*messages: ir.Message, **fields) -> ir.Request:
    return ir.Request(model=MODEL, messages=list(messages), **fields)


def accepted(body: dict) -> dict:
    """The body, after checking the fake CodeWhisperer would take it."""
    validate(body, KIRO_MODELS, None)
    return body


def state(body: dict) -> dict:
    return body["conversationState"]


def current(body: dict) -> dict:
    return state(body)["currentMessage"]["userInputMessage"]


def registry():
    return build_registry(get_plugin_manager(load=["omniroute-kiro"], disable=()))


def provider() -> KiroProvider:
    registered = registry().providers["kiro"]
    assert isinstance(registered, KiroProvider)
    return registered


# -- body rules ---------------------------------------------------------------------------------


def test_a_single_turn_is_the_current_message_with_the_fixed_fields():
    body = accepted(render_body(request(user(text("Hello")))))
    assert state(body)["chatTriggerType"] == "MANUAL"
    assert isinstance(state(body)["conversationId"], str)
    assert current(body) == {"content": "Hello", "modelId": MODEL, "origin": "AI_EDITOR"}
    assert "history" not in state(body)


def test_system_text_is_folded_into_the_first_user_turn_never_top_level():
    body = accepted(
        render_body(
            request(
                user(text("first")),
                assistant(text("ok")),
                user(text("second")),
                system=[text("Be terse."), text("Answer in French.")],
            )
        )
    )
    assert set(body) == {"conversationState"}
    first = state(body)["history"][0]["userInputMessage"]
    assert first["content"] == "Be terse.\n\nAnswer in French.\n\nfirst"
    assert current(body)["content"] == "second"


def test_consecutive_turns_of_one_role_are_merged():
    body = accepted(
        render_body(
            request(
                user(text("a")),
                user(text("b")),
                assistant(text("c")),
                assistant(text("d")),
                user(text("e")),
            )
        )
    )
    history = state(body)["history"]
    assert [list(h) for h in history] == [["userInputMessage"], ["assistantResponseMessage"]]
    assert history[0]["userInputMessage"]["content"] == "a\n\nb"
    assert history[1]["assistantResponseMessage"]["content"] == "c\n\nd"


def test_a_conversation_starting_or_ending_with_the_assistant_is_padded_with_user_turns():
    body = accepted(render_body(request(assistant(text("Hi, how can I help?")))))
    history = state(body)["history"]
    assert list(history[0]) == ["userInputMessage"] and history[0]["userInputMessage"]["content"]
    assert history[1]["assistantResponseMessage"]["content"] == "Hi, how can I help?"
    assert current(body)["content"]  # the service refuses empty content


def test_tools_are_declared_only_on_the_current_message():
    body = accepted(
        render_body(
            request(user(text("a")), assistant(text("b")), user(text("c")), tools=[WEATHER])
        )
    )
    spec = current(body)["userInputMessageContext"]["tools"][0]["toolSpecification"]
    assert spec == {
        "name": "get_weather",
        "description": "Current weather",
        "inputSchema": {"json": WEATHER.parameters},
    }
    assert "userInputMessageContext" not in state(body)["history"][0]["userInputMessage"]


def test_a_tool_without_description_gets_one_and_tool_choice_none_sends_no_tools():
    bare = ir.Tool("ping")
    body = render_body(request(user(text("x")), tools=[bare]))
    spec = current(body)["userInputMessageContext"]["tools"][0]["toolSpecification"]
    assert spec["description"]
    none = render_body(request(user(text("x")), tools=[bare], tool_choice=ir.ToolChoice("none")))
    assert "userInputMessageContext" not in current(none)


def test_a_forced_tool_choice_is_said_in_the_first_user_turn():
    body = render_body(
        request(user(text("x")), tools=[WEATHER], tool_choice=ir.ToolChoice("tool", "get_weather"))
    )
    assert "get_weather" in current(body)["content"]


def test_tool_calls_and_results_map_to_tool_uses_and_tool_results():
    body = accepted(
        render_body(
            request(
                user(text("Weather in Paris?")),
                assistant(
                    text("Checking."),
                    ir.ToolCallPart("tooluse_1", "get_weather", '{"city":"Paris"}'),
                ),
                user(
                    ir.ToolResultPart("tooluse_1", [text("18C, sunny")]),
                ),
                tools=[WEATHER],
            )
        )
    )
    call = state(body)["history"][1]["assistantResponseMessage"]
    assert call["toolUses"] == [
        {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    context = current(body)["userInputMessageContext"]
    assert context["toolResults"] == [
        {"toolUseId": "tooluse_1", "content": [{"text": "18C, sunny"}], "status": "success"}
    ]
    assert context["tools"]
    assert current(body)["content"]  # results only: still non-empty content


def test_a_failed_tool_result_has_error_status():
    body = render_body(
        request(
            user(text("go")),
            assistant(ir.ToolCallPart("t1", "f", "{}")),
            user(ir.ToolResultPart("t1", [text("boom")], is_error=True)),
        )
    )
    assert current(body)["userInputMessageContext"]["toolResults"][0]["status"] == "error"


def test_sampling_settings_go_to_inference_config_and_only_when_given():
    body = render_body(request(user(text("x")), max_tokens=256, temperature=0.2, top_p=0.9))
    assert body["inferenceConfig"] == {"maxTokens": 256, "temperature": 0.2, "topP": 0.9}
    assert "inferenceConfig" not in render_body(request(user(text("x"))))


def test_inline_images_travel_and_url_images_are_dropped():
    body = render_body(
        request(
            user(
                text("what is this"),
                ir.ImagePart(data="aGVsbG8=", media_type="image/jpeg"),
                ir.ImagePart(url="https://example.com/x.png"),
            )
        )
    )
    assert current(body)["images"] == [{"format": "jpeg", "source": {"bytes": "aGVsbG8="}}]


def test_the_format_is_upstream_only():
    fmt = registry().formats["kiro"]
    with pytest.raises(BadRequest, match="only by upstreams"):
        fmt.parse_request({"conversationState": {}})
    with pytest.raises(BadRequest, match="only by upstreams"):
        fmt.stream_encoder("m")


# -- the provider -------------------------------------------------------------------------------


def connection(secret: str | None = None) -> Connection:
    return Connection("c1", "kiro", "kiro-1", Secret(secret or credentials()))


def test_kr_is_registered_free_with_its_models_and_always_streams_upstream():
    kr = provider()
    assert (kr.prefix, kr.format, kr.billing) == ("kr", "kiro", "free")
    assert [m.id for m in kr.models] == ["claude-sonnet-4.5", "claude-haiku-4.5", "claude-sonnet-4"]
    assert kr.upstream_streams is True


def test_chat_goes_to_generate_assistant_response():
    assert provider().url(connection(), Endpoint.CHAT) == (
        "https://codewhisperer.us-east-1.amazonaws.com/generateAssistantResponse"
    )


def test_the_base_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("OMNIROUTE_KIRO_BASE_URL", "http://127.0.0.1:9/kiro")
    assert provider().url(connection(), Endpoint.CHAT) == (
        "http://127.0.0.1:9/kiro/generateAssistantResponse"
    )


def test_headers_carry_the_access_token_and_the_sdk_identity_but_never_the_json():
    kr = provider()
    headers = kr.headers(connection())
    assert headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert headers["X-Amz-Target"] == OPERATION
    assert headers["Accept"] == "application/vnd.amazon.eventstream"
    assert headers["Content-Type"] == "application/json"
    assert headers["Amz-Sdk-Request"] == "attempt=1; max=3"
    assert "kiro-ide" in headers["User-Agent"] and "kiro-ide" in headers["X-Amz-User-Agent"]
    assert headers["Amz-Sdk-Invocation-Id"] != kr.headers(connection())["Amz-Sdk-Invocation-Id"]
    assert not any("refresh" in value or "{" in value for value in headers.values())


def test_a_throttled_account_is_rate_limited_and_a_spent_month_is_quota_exhausted():
    kr = provider()
    throttled = kr.classify_error(
        429, {}, b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
    )
    assert throttled.kind is ErrorKind.RATE_LIMITED
    spent = kr.classify_error(
        429,
        {},
        b'{"message":"You have reached the limit.","reason":"MONTHLY_REQUEST_COUNT"}',
    )
    assert spent.kind is ErrorKind.QUOTA_EXHAUSTED


def test_a_refused_token_is_an_auth_failure():
    err = provider().classify_error(
        403, {}, b'{"message":"The bearer token included in the request is invalid."}'
    )
    assert err.kind is ErrorKind.AUTH and err.failover


async def test_check_asks_for_usage_limits_with_the_token(kiro_url):
    import aiohttp

    conn = Connection("c1", "kiro", "kiro-1", Secret(credentials()), base_url=kiro_url)
    async with aiohttp.ClientSession() as session:
        good = await provider().check(session, conn)
        bad = await provider().check(session, connection_to(kiro_url, "wrong-token"))
    assert good.ok and "claude-sonnet-4.5" in good.models
    assert not bad.ok and bad.status == 403


def connection_to(base_url: str, token: str) -> Connection:
    return Connection("c2", "kiro", "kiro-2", Secret(credentials(token=token)), base_url=base_url)


def test_kiro_logs_in_through_the_aws_device_flow_with_the_reference_defaults():
    flow = registry().auth_flows["kiro"]
    assert flow.kind == "device-code"
    driver = flow.driver
    assert (driver.style, driver.client_name) == ("aws", "kiro-oauth-client")
    assert driver.register_url == "https://oidc.us-east-1.amazonaws.com/client/register"
    assert driver.device_url == "https://oidc.us-east-1.amazonaws.com/device_authorization"
    assert driver.token_url == "https://oidc.us-east-1.amazonaws.com/token"
    assert driver.start_url == "https://view.awsapps.com/start"
    assert "codewhisperer:conversations" in driver.scope.split()


def test_the_device_flow_urls_follow_the_environment():
    flow = device_flow(
        {"OMNIROUTE_KIRO_OIDC_URL": "http://127.0.0.1:5/", "OMNIROUTE_KIRO_TOKEN_URL": "http://t"}
    )
    assert flow.device_url == "http://127.0.0.1:5/device_authorization"
    assert flow.token_url == "http://t"


# -- what the fake refuses ------------------------------------------------------------------------


def valid_body() -> dict:
    return render_body(
        request(user(text("a")), assistant(text("b")), user(text("c")), tools=[WEATHER])
    )


def refused(body: dict) -> str:
    with pytest.raises(KiroApiError) as caught:
        validate(body, KIRO_MODELS, None)
    assert caught.value.status == 400
    return caught.value.message


def test_the_fake_refuses_a_top_level_system_field():
    assert "system" in refused({**valid_body(), "system": "Be terse."})


def test_the_fake_refuses_a_history_that_does_not_alternate():
    body = valid_body()
    history = state(body)["history"]
    history.insert(1, orjson.loads(orjson.dumps(history[0])))
    assert "alternate" in refused(body)


def test_the_fake_refuses_tools_outside_the_current_message():
    body = valid_body()
    state(body)["history"][0]["userInputMessage"]["userInputMessageContext"] = {
        "tools": current(body)["userInputMessageContext"]["tools"]
    }
    assert "current message" in refused(body)


def test_the_fake_requires_the_account_profile_when_it_has_one():
    with pytest.raises(KiroApiError) as caught:
        validate(valid_body(), KIRO_MODELS, PROFILE_ARN)
    assert caught.value.status == 403
    validate({**valid_body(), "profileArn": PROFILE_ARN}, KIRO_MODELS, PROFILE_ARN)


async def test_the_fake_refuses_a_call_without_the_operation_header(kiro_url):
    import aiohttp

    headers = provider().headers(connection())
    del headers["X-Amz-Target"]
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            kiro_url + "/generateAssistantResponse",
            data=orjson.dumps({**valid_body(), "profileArn": PROFILE_ARN}),
            headers=headers,
        ) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["__type"] == "UnknownOperationException"
