"""The stored proxy configuration: validation, encryption of passwords, and the API view.

It is one settings document (``proxies``) of the shape the API takes,
``{global, providers: {id: proxy}, combos: {name: proxy}, keys: {keyId: proxy}}``, except that
each password is stored encrypted (``passwordEnc``, Fernet) and answered masked.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, model_validator

from omniroute.accounts.vault import Vault
from omniroute.gateway.proxies import EnvironmentProxies, ProxyRoute, ProxyTable
from omniroute.settings_model import ADVANCED_KEY, AdvancedSettings, load_section
from omniroute.store.documents import get_document

DOCUMENT_KEY = "proxies"
#: What a stored password looks like in answers; sent back unchanged, it keeps the stored one.
MASK = "********"
SCOPES = ("providers", "combos", "keys")


class ProxySpec(BaseModel):
    """One proxy: ``type`` ``http`` | ``https`` (TLS to the proxy) | ``socks5``, or ``direct``
    (no proxy, overriding a less specific level)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["http", "https", "socks5", "direct"]
    host: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._:\[\]-]+$")
    port: int | None = Field(None, ge=1, le=65535)
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=1024)

    @model_validator(mode="after")
    def _complete(self) -> ProxySpec:
        if self.host is not None:
            self.host = self.host.strip("[]")  # an IPv6 literal, as URLs write it
        if self.type != "direct" and (self.host is None or self.port is None):
            missing = "host" if self.host is None else "port"
            raise ValueError(f"'{missing}' is required for a {self.type} proxy")
        if self.password is not None and self.username is None:
            raise ValueError("'password' needs a 'username'")
        return self


class ProxyConfig(BaseModel):
    """The whole configuration, as ``PUT /api/settings/proxy`` takes it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    global_: ProxySpec | None = Field(None, alias="global")
    providers: dict[str, ProxySpec] = Field(default_factory=dict, max_length=1000)
    combos: dict[str, ProxySpec] = Field(default_factory=dict, max_length=1000)
    keys: dict[str, ProxySpec] = Field(default_factory=dict, max_length=10000)


def _slots(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every proxy in a document by its place: ``("global", "")``, ``("providers", id)``, ..."""
    slots = {}
    if isinstance(doc.get("global"), dict):
        slots[("global", "")] = doc["global"]
    for scope in SCOPES:
        for name, spec in (doc.get(scope) or {}).items():
            slots[(scope, name)] = spec
    return slots


def to_stored(config: ProxyConfig, previous: dict[str, Any], vault: Vault) -> dict[str, Any]:
    """The document to store: passwords encrypted; a masked password keeps the one stored at
    the same place."""
    old = _slots(previous)

    def store(place: tuple[str, str], spec: ProxySpec) -> dict[str, Any]:
        out = spec.model_dump(exclude_none=True, exclude={"password"})
        if spec.password == MASK:
            kept = old.get(place, {}).get("passwordEnc")
            if kept:
                out["passwordEnc"] = kept
        elif spec.password:
            out["passwordEnc"] = vault.encrypt(spec.password)
        return out

    doc: dict[str, Any] = {
        "global": store(("global", ""), config.global_) if config.global_ else None
    }
    for scope in SCOPES:
        specs: dict[str, ProxySpec] = getattr(config, scope)
        doc[scope] = {name: store((scope, name), spec) for name, spec in specs.items()}
    return doc


def to_api(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The answer: the stored document with each password masked."""
    doc = doc or {}

    def show(spec: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in spec.items() if k != "passwordEnc"}
        if "passwordEnc" in spec:
            out["password"] = MASK
        return out

    return {
        "global": show(doc["global"]) if isinstance(doc.get("global"), dict) else None,
        **{scope: {n: show(s) for n, s in (doc.get(scope) or {}).items()} for scope in SCOPES},
    }


def route_of(spec: dict[str, Any], vault: Vault) -> ProxyRoute:
    """A stored proxy as the gateway uses it (password decrypted, held as a ``Secret``)."""
    token = spec.get("passwordEnc")
    return ProxyRoute(
        type=spec["type"],
        host=spec.get("host") or "",
        port=spec.get("port") or 0,
        username=spec.get("username"),
        password=vault.decrypt(token) if token else None,
    )


def load_table(db: sqlite_utils.Database, vault: Vault) -> ProxyTable:
    """The proxy table for the routing index (for :func:`omniroute.reload.read_config`); the
    environment's proxies count when the advanced section's ``useEnvironmentProxy`` is on."""
    doc = get_document(db, DOCUMENT_KEY) or {}
    advanced = load_section(db, ADVANCED_KEY, AdvancedSettings)
    use_environment = advanced.use_environment_proxy
    environment = EnvironmentProxies.read() if use_environment else EnvironmentProxies()
    glob = doc.get("global")
    return ProxyTable(
        global_=route_of(glob, vault) if isinstance(glob, dict) else None,
        providers={n: route_of(s, vault) for n, s in (doc.get("providers") or {}).items()},
        combos={n.lower(): route_of(s, vault) for n, s in (doc.get("combos") or {}).items()},
        keys={n: route_of(s, vault) for n, s in (doc.get("keys") or {}).items()},
        environment=environment,
    )
