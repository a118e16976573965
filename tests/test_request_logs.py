"""Request logs: redacted bodies in DATA_DIR/logs, off by default, with retention."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson

from omniroute.appkeys import REQUEST_LOG
from omniroute.ledger.request_logs import RequestLog, scrub
from omniroute.testing.fake_openai import Reply
from tests.conftest import UPSTREAM_KEY

BODY_SECRET = "hunter2-body-password"


async def logged(gateway: Any, count: int) -> list[dict[str, Any]]:
    """The entries written so far, once there are ``count`` of them."""
    request_log = gateway.app[REQUEST_LOG]
    for _ in range(500):  # each stream's entry is queued when its upstream response closes
        await request_log.flush()
        lines = [
            orjson.loads(line)
            for path in request_log.segments()
            for line in path.read_bytes().splitlines()
        ]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count} log entries, found {len(lines)}")


def all_log_text(directory: Path) -> str:
    return "".join(p.read_text() for p in directory.iterdir())


async def test_request_logs_are_off_by_default(gateway, upstream, tmp_path):
    await gateway.connect(upstream)
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    assert gateway.app[REQUEST_LOG] is None
    assert not any(p.name == "logs" for p in tmp_path.rglob("logs"))


async def test_json_and_streamed_exchanges_are_logged_without_credentials(
    make_gateway, upstream, tmp_path
):
    gateway = await make_gateway(enable_request_logs=True, data_dir=tmp_path / "d")
    await gateway.connect(upstream)
    client_key = await gateway.create_key()
    client = gateway.openai(api_key=client_key)
    # The fake echoes the prompt, so the keys come back in the answers too.
    leaky = f"my keys are {UPSTREAM_KEY} and {client_key}"
    await client.chat.completions.create(
        model="openai/gpt-5",
        messages=[{"role": "user", "content": leaky}],
        extra_body={"metadata": {"api_key": BODY_SECRET}},
    )
    stream = await client.chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": leaky}], stream=True
    )
    async for _chunk in stream:
        pass

    entries = await logged(gateway, 2)
    json_entry, stream_entry = entries
    assert json_entry["provider"] == "openai" and json_entry["model"] == "gpt-5"
    assert json_entry["status"] == 200 and json_entry["stream"] is False
    assert json_entry["request"]["messages"][0]["content"].startswith("my keys are")
    assert json_entry["response"]["choices"][0]["message"]["content"].startswith("echo: my keys")
    assert stream_entry["stream"] is True and "data: " in stream_entry["response"]
    assert stream_entry["requestId"] != json_entry["requestId"]

    text = all_log_text(tmp_path / "d" / "logs")
    assert UPSTREAM_KEY not in text
    assert client_key not in text
    assert BODY_SECRET not in text
    for path in (tmp_path / "d" / "logs").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600


async def test_a_log_entry_joins_the_ledger_row_by_request_id(make_gateway, upstream, tmp_path):
    gateway = await make_gateway(enable_request_logs=True)
    await gateway.connect(upstream)
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    [entry] = await logged(gateway, 1)
    _, page = await gateway.api("GET", "/api/usage/history")
    assert page["rows"][0]["requestId"] == entry["requestId"]


async def test_failed_attempts_are_logged_too(make_gateway, upstream, fake):
    gateway = await make_gateway(enable_request_logs=True)
    await gateway.connect(upstream, name="first")
    await gateway.connect(upstream, name="second", priority=1)
    fake.enqueue(Reply.error(429, "slow down"))
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    entries = await logged(gateway, 2)
    assert [e["status"] for e in entries] == [429, 200]
    assert entries[0]["response"]["error"]["message"] == "slow down"


async def test_long_bodies_are_capped(make_gateway, upstream):
    gateway = await make_gateway(enable_request_logs=True, request_log_max_body_bytes=200)
    await gateway.connect(upstream)
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "word " * 200}]
    )
    [entry] = await logged(gateway, 1)
    assert entry["requestTruncated"] and len(entry["request"]) == 200
    assert entry["responseTruncated"] and len(entry["response"]) <= 200


def test_credential_named_fields_are_masked_at_any_depth():
    body = {"a": [{"Authorization": "Bearer abcdefghijklmnop"}], "token": "tok-1234567890ab"}
    assert scrub(body) == {"a": [{"Authorization": "Bear…mnop"}], "token": "tok-…90ab"}


# -- retention ------------------------------------------------------------------------------------

DAY = 86400.0
NOW = 1_800_000_000.0


def segment(directory: Path, name: str, size: int, age_days: float) -> Path:
    path = directory / f"requests-{name}.jsonl"
    path.write_bytes(b"x" * size)
    mtime = NOW - age_days * DAY
    os.utime(path, (mtime, mtime))
    return path


async def test_segments_older_than_the_retention_age_are_deleted(tmp_path):
    request_log = RequestLog(
        tmp_path, max_body_bytes=100, retention_days=7, max_total_bytes=10**9, clock=lambda: NOW
    )
    old = segment(tmp_path, "20260101T000000Z", 10, age_days=8)
    recent = segment(tmp_path, "20260110T000000Z", 10, age_days=1)
    assert await request_log.sweep() == [old]
    assert request_log.segments() == [recent]


async def test_the_oldest_segments_go_until_the_total_fits(tmp_path):
    request_log = RequestLog(
        tmp_path, max_body_bytes=100, retention_days=30, max_total_bytes=250, clock=lambda: NOW
    )
    a = segment(tmp_path, "20260101T000000Z", 100, age_days=3)
    b = segment(tmp_path, "20260102T000000Z", 100, age_days=2)
    c = segment(tmp_path, "20260103T000000Z", 100, age_days=1)
    assert await request_log.sweep() == [a]
    assert request_log.segments() == [b, c]


async def test_writing_resumes_in_a_new_segment_after_the_current_one_is_swept(
    make_gateway, upstream, tmp_path
):
    gateway = await make_gateway(enable_request_logs=True, data_dir=tmp_path / "d")
    await gateway.connect(upstream)
    request_log = gateway.app[REQUEST_LOG]
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "hi"}]
    )
    await logged(gateway, 1)
    request_log.max_total_bytes = 0
    assert len(await request_log.sweep()) == 1
    request_log.max_total_bytes = 10**9
    await gateway.openai().chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "again"}]
    )
    [entry] = await logged(gateway, 1)
    assert entry["request"]["messages"][0]["content"] == "again"
