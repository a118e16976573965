"""The security, AI and advanced settings sections: pydantic models and their storage.

Each is a settings document (``omniroute.store.documents``) under its section name, validated by
its model before it is written, and read into the routing index snapshot when it is rebuilt,
never per request. The routing and resilience sections live in :mod:`omniroute.routing.config`.
On the wire (API, stored JSON) field names are camelCase.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import sqlite_utils
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from omniroute.store.documents import get_document

log = logging.getLogger(__name__)

SECURITY_KEY = "security"
AI_KEY = "ai"
ADVANCED_KEY = "advanced"
#: Counts password changes; a dashboard session is valid only at the count it was issued at.
SESSION_GENERATION_KEY = "session_generation"

M = TypeVar("M", bound=BaseModel)

_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


def _networks(values: list[str]) -> list[str]:
    """Each value as a normalised CIDR network (a bare address is a /32 or /128)."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 or IPv6 address or CIDR network") from None
    return list(dict.fromkeys(out))


class AccessListModel(BaseModel):
    """Who may reach one side of the gateway. Deny wins; a non-empty allow list admits only
    the addresses it matches."""

    model_config = _CONFIG

    allow: list[str] = Field(default_factory=list, max_length=1000)
    deny: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("allow", "deny")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return _networks(value)


class IpRulesModel(BaseModel):
    """Access lists for the front doors (``v1``: ``/v1``, ``/v1beta`` and the unversioned
    OpenAI paths) and for the management API (``api``: ``/api``)."""

    model_config = _CONFIG

    v1: AccessListModel = Field(default_factory=AccessListModel)
    api: AccessListModel = Field(default_factory=AccessListModel)


class SecuritySettings(BaseModel):
    """Who may use the gateway and its management API.

    ``login_required`` off opens ``/api/*`` without a dashboard session (pair it with an
    ``ipRules.api`` allow list). ``models_require_key`` off lets ``/v1/models`` (and the Gemini
    model list) answer without a client key even when ``REQUIRE_API_KEY`` is on.
    ``blocked_providers`` (ids) vanish from the model lists and refuse requests.
    ``trusted_proxies`` are the reverse proxies whose ``X-Forwarded-For`` is believed.
    """

    model_config = _CONFIG

    login_required: bool = True
    models_require_key: bool = True
    blocked_providers: list[str] = Field(default_factory=list, max_length=1000)
    ip_rules: IpRulesModel = Field(default_factory=IpRulesModel)
    trusted_proxies: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return _networks(value)


class AiSettings(BaseModel):
    """Applied to every chat request at every front door, before routing.

    The system prompt goes before (``prepend``) or after (``append``) the client's own system
    instructions. ``default_thinking_budget`` (tokens) is added to requests that say nothing
    about reasoning; formats that take an effort get the nearest one.
    """

    model_config = _CONFIG

    system_prompt_enabled: bool = False
    system_prompt: str = Field("", max_length=100_000)
    system_prompt_position: Literal["prepend", "append"] = "prepend"
    default_thinking_budget: int | None = Field(None, ge=1024, le=200_000)

    @property
    def injects_prompt(self) -> bool:
        """Whether there is a system prompt to inject."""
        return self.system_prompt_enabled and bool(self.system_prompt)


class AdvancedSettings(BaseModel):
    """Less common switches.

    ``use_environment_proxy``: requests with no configured proxy use ``HTTPS_PROXY`` /
    ``HTTP_PROXY`` / ``ALL_PROXY`` (and ``NO_PROXY``) from the gateway's environment.
    ``proxy_test_url``: what ``POST /api/settings/proxy/test`` fetches when given no ``url``.
    """

    model_config = _CONFIG

    use_environment_proxy: bool = True
    proxy_test_url: str = Field(
        "https://www.gstatic.com/generate_204", pattern=r"^https?://", max_length=2000
    )


#: Section name → (settings document key, model).
SECTIONS: dict[str, tuple[str, type[BaseModel]]] = {
    "security": (SECURITY_KEY, SecuritySettings),
    "ai": (AI_KEY, AiSettings),
    "advanced": (ADVANCED_KEY, AdvancedSettings),
}


def load_section(db: sqlite_utils.Database, key: str, model: type[M]) -> M:
    """A stored section, or its defaults when none was saved (or it no longer validates)."""
    raw = get_document(db, key)
    if raw is None:
        return model()
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        # Written through the same model, so this only happens across an incompatible upgrade;
        # the gateway keeps working on defaults rather than refusing to start.
        log.warning("stored %r settings are invalid, using defaults: %s", key, exc)
        return model()


@dataclass(frozen=True)
class Sections:
    """The three sections as the routing index holds them, and the session generation."""

    security: SecuritySettings = field(default_factory=SecuritySettings)
    ai: AiSettings = field(default_factory=AiSettings)
    advanced: AdvancedSettings = field(default_factory=AdvancedSettings)
    session_generation: int = 0


def load_sections(db: sqlite_utils.Database) -> Sections:
    """Read the security, AI and advanced sections (for :func:`omniroute.reload.read_config`)."""
    return Sections(
        security=load_section(db, SECURITY_KEY, SecuritySettings),
        ai=load_section(db, AI_KEY, AiSettings),
        advanced=load_section(db, ADVANCED_KEY, AdvancedSettings),
        session_generation=int(get_document(db, SESSION_GENERATION_KEY) or 0),
    )
