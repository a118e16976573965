"""Secrets at rest, in responses, in CLI output and in logs."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from omniroute import Secret, redact
from omniroute.appkeys import SETTINGS
from omniroute.cli import build_cli
from omniroute.testing import FakeOpenAIUpstream, Reply
from tests.conftest import ADMIN_PASSWORD, UPSTREAM_KEY
from tests.test_cli import serving

GENERATED = ("jwt.secret", "api_key.secret", "encryption.key")
CHAT = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def data_dir_of(gw) -> Path:
    return gw.app[SETTINGS].data_dir


def database_bytes(data_dir: Path) -> bytes:
    """Everything SQLite has written: the database file and its write-ahead log."""
    return b"".join(
        path.read_bytes()
        for name in ("storage.sqlite", "storage.sqlite-wal")
        if (path := data_dir / name).exists()
    )


def query(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{data_dir / 'storage.sqlite'}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def send(gw, body: dict) -> str:
    """A chat request; the raw answer, JSON or SSE."""
    async with gw.admin.post(gw.url + "/v1/chat/completions", json=body) as resp:
        return await resp.text()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cli(*args: str, data_dir: Path) -> str:
    result = CliRunner().invoke(build_cli(), [*args, "--data-dir", str(data_dir)])
    return result.output


# -- at rest ------------------------------------------------------------------------------------


async def test_database_and_generated_secret_files_are_owner_only(gateway, upstream):
    await gateway.connect(upstream)
    data_dir = data_dir_of(gateway)
    files = {p.name: mode(p) for p in data_dir.iterdir() if p.is_file()}
    assert {"storage.sqlite", *GENERATED} <= set(files)
    assert files == dict.fromkeys(files, 0o600)


def test_files_created_by_the_cli_are_owner_only(tmp_path):
    cli("keys", "list", data_dir=tmp_path)
    files = {p.name: mode(p) for p in tmp_path.iterdir() if p.is_file()}
    assert {"storage.sqlite", *GENERATED} <= set(files)
    assert files == dict.fromkeys(files, 0o600)


async def test_provider_key_is_stored_encrypted_and_decrypts_back(gateway, upstream):
    await gateway.connect(upstream)
    data_dir = data_dir_of(gateway)
    assert UPSTREAM_KEY.encode() not in database_bytes(data_dir)
    [(token,)] = query(data_dir, "SELECT secret FROM provider_connections")
    fernet = Fernet((data_dir / "encryption.key").read_bytes().strip())
    assert fernet.decrypt(token.encode()).decode() == UPSTREAM_KEY


async def test_client_keys_are_stored_only_as_hmac_hashes(gateway):
    key = await gateway.create_key()
    data_dir = data_dir_of(gateway)
    assert key.encode() not in database_bytes(data_dir)
    secret = (data_dir / "api_key.secret").read_bytes().strip()
    expected = hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()
    assert query(data_dir, "SELECT key_hash FROM api_keys") == [(expected,)]


async def test_dashboard_password_is_stored_only_as_a_scrypt_hash(gateway):
    data_dir = data_dir_of(gateway)
    assert ADMIN_PASSWORD.encode() not in database_bytes(data_dir)
    [(stored,)] = query(data_dir, "SELECT value FROM settings WHERE key = 'password_hash'")
    assert stored.startswith("scrypt$")


async def test_secrets_given_in_settings_are_used_and_no_files_are_generated(
    make_gateway, upstream, tmp_path
):
    encryption_key = Fernet.generate_key().decode()
    gw = await make_gateway(
        data_dir=tmp_path / "given",
        jwt_secret="given-jwt-secret-" * 3,
        api_key_secret="given-api-key-secret",
        storage_encryption_key=encryption_key,
    )
    await gw.connect(upstream)
    key = await gw.create_key()
    data_dir = tmp_path / "given"
    assert not [name for name in GENERATED if (data_dir / name).exists()]
    [(token,)] = query(data_dir, "SELECT secret FROM provider_connections")
    assert Fernet(encryption_key).decrypt(token.encode()).decode() == UPSTREAM_KEY
    expected = hmac.new(b"given-api-key-secret", key.encode(), hashlib.sha256).hexdigest()
    assert query(data_dir, "SELECT key_hash FROM api_keys") == [(expected,)]


# -- in responses, CLI output and logs ----------------------------------------------------------


async def test_provider_key_never_appears_in_any_api_response(gateway, upstream, fake):
    conn = await gateway.connect(upstream)
    await gateway.post("/v1/chat/completions", json=CHAT)
    fake.enqueue(Reply.error(401, f"bad key {UPSTREAM_KEY}"))
    await gateway.post("/v1/chat/completions", json=CHAT)
    paths = [
        ("GET", "/api/providers"),
        ("GET", f"/api/providers/{conn['id']}"),
        ("PUT", f"/api/providers/{conn['id']}"),
        ("POST", f"/api/providers/{conn['id']}/test"),
        ("GET", "/api/provider-nodes"),
        ("GET", "/api/keys"),
        ("GET", "/api/plugins"),
        ("GET", "/api/usage"),
    ]
    for method, path in paths:
        kwargs = {"json": {"name": "x"}} if method == "PUT" else {}
        async with gateway.admin.request(method, gateway.url + path, **kwargs) as resp:
            assert resp.status == 200, path
            assert UPSTREAM_KEY not in await resp.text(), path


def test_provider_key_never_appears_in_cli_output(tmp_path):
    fake = FakeOpenAIUpstream(api_key=UPSTREAM_KEY)
    fake.enqueue(Reply.error(401, f"bad key {UPSTREAM_KEY}"))
    with serving(fake) as base_url:
        # perplexity is checked with a one-token chat, so the fake's scripted echo answers it.
        add = ("providers", "add", "pplx", "--api-key", UPSTREAM_KEY, "--base-url", base_url)
        outputs = [cli(*add, data_dir=tmp_path), cli("providers", "list", data_dir=tmp_path)]
        outputs.append(cli("providers", "list", "--json", data_dir=tmp_path))
        [conn] = json.loads(outputs[-1])
        outputs.append(cli("providers", "test", conn["id"], data_dir=tmp_path))
    assert "bad key" in outputs[-1]
    assert not [out for out in outputs if UPSTREAM_KEY in out]


async def test_upstream_echoing_the_key_is_redacted_for_the_client(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.error(401, f"Incorrect API key provided: {UPSTREAM_KEY}"))
    status, body, _ = await gateway.post("/v1/chat/completions", json=CHAT)
    assert status == 401
    assert "Incorrect API key" in body["error"]["message"]
    assert UPSTREAM_KEY not in body["error"]["message"]


async def test_an_error_event_echoing_the_key_mid_stream_is_redacted(gateway, upstream, fake):
    await gateway.connect(upstream)
    fake.enqueue(Reply.midstream_error(message=f"key {UPSTREAM_KEY} was revoked"))
    text = await send(gateway, {**CHAT, "stream": True})
    assert "was revoked" in text and UPSTREAM_KEY not in text


async def test_provider_key_never_reaches_the_logs(gateway, upstream, fake, caplog):
    caplog.set_level(logging.DEBUG)
    conn = await gateway.connect(upstream)
    await gateway.connect("http://127.0.0.1:9/v1", provider="ds")
    client = gateway.openai()
    await client.chat.completions.create(**CHAT)
    _ = [c async for c in await client.chat.completions.create(**CHAT, stream=True)]
    fake.enqueue(
        Reply.error(401, f"bad key {UPSTREAM_KEY}"),
        Reply.error(500, f"server broke on {UPSTREAM_KEY}"),
        Reply.midstream_error(message=f"stream broke on {UPSTREAM_KEY}"),
    )
    for body in (CHAT, CHAT, {**CHAT, "stream": True}, {**CHAT, "model": "ds/deepseek-chat"}):
        await send(gateway, body)
    await gateway.api("POST", f"/api/providers/{conn['id']}/test")
    await gateway.api("PUT", f"/api/providers/{conn['id']}", json={"apiKey": UPSTREAM_KEY})
    await gateway.api("GET", "/api/usage")
    assert fake.pending == 0, "every scripted failure was played"
    assert caplog.records, "nothing was logged at all: the check would be vacuous"
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in caplog.records)
    assert UPSTREAM_KEY not in logged


# -- in memory ----------------------------------------------------------------------------------


def test_secret_repr_and_str_are_masked():
    secret = Secret(UPSTREAM_KEY)
    for shown in (repr(secret), str(secret), f"{secret}", f"{[secret]}"):
        assert UPSTREAM_KEY not in shown
    assert secret.reveal() == UPSTREAM_KEY


@pytest.mark.parametrize(
    "text",
    [
        f"Incorrect API key provided: {UPSTREAM_KEY}.",
        "key sk-proj-abcdefghijklmnopqrstuvwxyz0123 leaked",
        "gemini AIzaSyA1234567890abcdefghijklmnopqrstu",
        "groq gsk_0123456789abcdefghijklmnop",
    ],
)
def test_redact_masks_key_shaped_strings(text):
    secret_part = next(word for word in text.split() if len(word) > 20).rstrip(".")
    assert secret_part not in redact(text)


def test_redact_masks_known_secrets_of_any_shape():
    text = "token=Zq9unusual-shape-Secret!value in the message"
    redacted = redact(text, Secret("Zq9unusual-shape-Secret!value"), None)
    assert "Zq9unusual-shape-Secret!value" not in redacted
    assert redacted.startswith("token=") and redacted.endswith("in the message")
