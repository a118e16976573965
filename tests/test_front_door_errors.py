"""Bad input at the Gemini and Responses front doors: a 4xx in each API's own shape."""

from __future__ import annotations


async def test_an_unserved_gemini_action_is_a_404_in_gemini_shape(gateway):
    status, body, _ = await gateway.post(
        "/v1beta/models/gemini/gemini-2.5-flash:embedContent", json={"content": {}}
    )
    assert status == 404
    assert body["error"]["status"] == "NOT_FOUND" and "generateContent" in body["error"]["message"]


async def test_a_gemini_body_without_contents_is_a_400_in_gemini_shape(gateway):
    status, body, _ = await gateway.post(
        "/v1beta/models/gemini/gemini-2.5-flash:generateContent", json={"contents": []}
    )
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT" and "contents" in body["error"]["message"]


async def test_a_responses_body_without_input_is_a_400_in_openai_shape(gateway):
    status, body, _ = await gateway.post("/v1/responses", json={"model": "openai-responses/gpt-5"})
    assert status == 400 and body["error"]["param"] == "input"
