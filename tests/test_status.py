"""GET /health."""

from __future__ import annotations


async def test_health_answers_without_a_key(make_gateway):
    gateway = await make_gateway(require_api_key=True)
    async with gateway.admin.get(gateway.url + "/health") as resp:
        body = await resp.json()
    assert resp.status == 200 and body["status"] == "ok"
