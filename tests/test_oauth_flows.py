"""The OAuth building blocks on their own: pasted codes, token answers, imports, redaction,
PKCE, pending logins and the connection status migration."""

from __future__ import annotations

import time

import pytest

from omniroute.accounts import connections
from omniroute.accounts.vault import Secret
from omniroute.oauth import pkce
from omniroute.oauth.credentials import OAuthCredentials, redact_all, secrets_of
from omniroute.oauth.flows import (
    AuthorizationCodeFlow,
    ImportFlow,
    InvalidGrant,
    OAuthError,
    _token_answer,
    parse_pasted,
)
from omniroute.oauth.pending import PendingLogin, PendingLogins
from omniroute.store.db import migrate, open_database
from omniroute.store.migrations import MIGRATIONS


def test_pasted_code_hash_state_overrides_the_state():
    assert parse_pasted(" abc#xyz \n") == ("abc", "xyz")
    assert parse_pasted("abc") == ("abc", None)
    assert parse_pasted("http://localhost:1455/auth/callback?code=c1&state=s1") == ("c1", "s1")
    with pytest.raises(OAuthError):
        parse_pasted("   ")


def test_expires_in_becomes_expires_at_and_a_missing_refresh_token_is_kept():
    old = OAuthCredentials(access_token="a1", refresh_token="r1", email="x@y", extra={"p": 1})
    new = OAuthCredentials.from_token_response(
        {"access_token": "a2", "expires_in": 60}, previous=old
    )
    assert new.refresh_token == "r1" and new.email == "x@y" and new.extra == {"p": 1}
    assert new.expires_at is not None and 55 < new.expires_at - time.time() <= 60


def test_credentials_round_trip_as_camel_case_json_and_never_repr_tokens():
    creds = OAuthCredentials(access_token="at-secret-123456", refresh_token="rt-secret-123456")
    secret = creds.to_secret()
    assert '"accessToken"' in secret and '"refreshToken"' in secret
    assert OAuthCredentials.from_secret(secret) == creds
    assert "secret" not in repr(creds) and "secret" not in str(creds)


def test_redaction_covers_every_token_of_a_credential():
    creds = OAuthCredentials(
        access_token="at-AAAAAAAAAAAAAAAA",
        refresh_token="rt-BBBBBBBBBBBBBBBB",
        extra={"copilot_token": "tid=CCCCCCCCCCCCCCCC", "project": "my-project-123456"},
    )
    assert secrets_of(creds) == [
        "at-AAAAAAAAAAAAAAAA",
        "rt-BBBBBBBBBBBBBBBB",
        "tid=CCCCCCCCCCCCCCCC",
    ]
    text = "bad at-AAAAAAAAAAAAAAAA rt-BBBBBBBBBBBBBBBB tid=CCCCCCCCCCCCCCCC my-project-123456"
    for item in (creds, Secret(creds.to_secret())):
        clean = redact_all(text, item)
        assert "AAAAAAAA" not in clean and "BBBBBBBB" not in clean and "CCCCCCCC" not in clean
        assert "my-project-123456" in clean


def test_token_errors_are_classified():
    with pytest.raises(InvalidGrant):
        _token_answer(400, b'{"error": "invalid_grant"}')
    with pytest.raises(OAuthError) as info:
        _token_answer(200, b"error=authorization_pending")
    assert info.value.code == "authorization_pending"
    assert _token_answer(200, b"access_token=a&token_type=bearer")["access_token"] == "a"


def test_authorization_url_carries_pkce_s256_and_state():
    flow = AuthorizationCodeFlow(
        client_id="cid",
        authorize_url="https://auth.example/authorize?code=true",
        token_url="https://auth.example/token",
        redirect_uri="http://localhost:1455/auth/callback",
        scope="openid email",
    )
    start = flow.start()
    assert start.verifier and 43 <= len(start.verifier) <= 128
    assert f"code_challenge={pkce.challenge(start.verifier)}" in start.url
    assert "code_challenge_method=S256" in start.url and f"state={start.state}" in start.url
    assert start.url.startswith("https://auth.example/authorize?code=true&")


def test_pkce_challenge_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_imports_of_codex_and_gemini_cli_files():
    codex = ImportFlow(source="codex").read(
        '{"tokens": {"access_token": "a", "refresh_token": "r", "id_token": "i", '
        '"account_id": "acc"}}'
    )
    assert (codex.account_id, codex.extra["chatgpt_account_id"]) == ("acc", "acc")
    gemini = ImportFlow(source="gemini-cli").read(
        '{"access_token": "a", "refresh_token": "r", "expiry_date": 1900000000000}'
    )
    assert gemini.expires_at == 1900000000.0
    with pytest.raises(ValueError, match="claudeAiOauth"):
        ImportFlow(source="claude-code").read('{"other": 1}')
    with pytest.raises(ValueError, match="not JSON"):
        ImportFlow(source="codex").read("nope")


def test_pending_logins_expire_and_belong_to_their_provider():
    pending = PendingLogins(ttl=0.05)
    session = pending.add(PendingLogin("cc", "cc-login", start=None))
    assert pending.get(session, "cx") is None
    assert pending.get(session, "cc") is not None
    time.sleep(0.06)
    assert pending.get(session, "cc") is None and len(pending) == 0


def test_migration_adds_an_active_status_to_existing_connections(tmp_path):
    db = open_database(tmp_path / "s.sqlite", MIGRATIONS[:-1])
    db["provider_connections"].insert(
        {
            "id": "c1",
            "provider": "x",
            "name": "x",
            "secret": "s",
            "secret_mask": "****",
            "priority": 0,
            "is_active": 1,
        }
    )
    assert migrate(db) == ["m006_connection_status"]
    row = connections.get_row(db, "c1")
    assert row is not None and connections.to_api(row)["status"] == "active"
    assert connections.set_status(db, "c1", "needs_reauth")
    assert connections.to_api(connections.get_row(db, "c1"))["needsReauth"] is True
    with pytest.raises(ValueError):
        connections.set_status(db, "c1", "broken")
