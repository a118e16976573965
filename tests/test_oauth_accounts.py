"""Which connection a login lands in: the same account updates its connection, by identity,
or by name when the provider's tokens do not say which account they are."""

from __future__ import annotations

from omniroute.appkeys import SECRETS, STORE
from omniroute.oauth.accounts import save_login
from omniroute.oauth.credentials import OAuthCredentials


async def login(gateway, creds: OAuthCredentials, name: str | None = None):
    app = gateway.app
    return await app[STORE].call(save_login, app[SECRETS].vault, "qwen", creds, name)


async def test_a_login_without_identity_updates_the_connection_of_the_same_name(gateway):
    first, created = await login(gateway, OAuthCredentials(access_token="at-1"), "work")
    assert created
    again, created = await login(gateway, OAuthCredentials(access_token="at-2"), "work")
    assert not created and again["id"] == first["id"]
    other, created = await login(gateway, OAuthCredentials(access_token="at-3"), "home")
    assert created and other["id"] != first["id"]


async def test_a_login_with_identity_is_matched_by_it_whatever_the_name(gateway):
    alice = OAuthCredentials(access_token="at-1", email="alice@example.com")
    first, _ = await login(gateway, alice, "work")
    again, created = await login(gateway, alice.model_copy(update={"access_token": "at-2"}))
    assert not created and again["id"] == first["id"]
    bob = OAuthCredentials(access_token="at-3", email="bob@example.com")
    other, created = await login(gateway, bob, "work")  # another account under the same name
    assert created and other["id"] != first["id"]
