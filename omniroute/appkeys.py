"""Typed application state. Everything shared by handlers lives under one of these keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    import aiohttp

    from omniroute.admin.sessions import SessionSigner
    from omniroute.dashboard.assets import PackageFiles
    from omniroute.gateway.metrics import GatewayMetrics
    from omniroute.gateway.pipeline import Gateway
    from omniroute.ledger.ledger import Ledger
    from omniroute.ledger.request_logs import RequestLog
    from omniroute.plugins import PluginManager, Registry
    from omniroute.secrets_store import Secrets
    from omniroute.settings import Settings
    from omniroute.store.backup_schedule import BackupScheduler
    from omniroute.store.db import Store

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
PLUGIN_MANAGER: web.AppKey[PluginManager] = web.AppKey("plugin_manager")
REGISTRY: web.AppKey[Registry] = web.AppKey("registry")
STORE: web.AppKey[Store] = web.AppKey("store")
SECRETS: web.AppKey[Secrets] = web.AppKey("secrets")
HTTP_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("http_session")
LEDGER: web.AppKey[Ledger] = web.AppKey("ledger")
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
METRICS: web.AppKey[GatewayMetrics] = web.AppKey("metrics")
SESSIONS: web.AppKey[SessionSigner] = web.AppKey("sessions")
REQUEST_LOG: web.AppKey[RequestLog | None] = web.AppKey("request_log")
BACKUPS: web.AppKey[BackupScheduler] = web.AppKey("backups")
DASHBOARD_FILES: web.AppKey[PackageFiles] = web.AppKey("dashboard_files")
