"""``omniroute login <provider>``: log in a subscription account from a terminal, even over SSH."""

from __future__ import annotations

import asyncio
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

import aiohttp
import click

from omniroute.cli.manage import Context, with_context
from omniroute.oauth.accounts import save_login
from omniroute.oauth.credentials import OAuthCredentials
from omniroute.oauth.flows import (
    AuthorizationCodeFlow,
    AuthorizationStart,
    DeviceCodeFlow,
    ImportFlow,
    OAuthError,
)
from omniroute.oauth.provider import OAuthProvider

#: How long ``login`` waits for the browser or a pasted code.
WAIT_SECONDS = 600


@click.command()
@click.argument("provider")
@click.option("--name", help="A name for the connection (default: the account's email or id).")
@click.option(
    "--import",
    "import_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Import an existing CLI's credential file instead of logging in "
    "(~/.claude/.credentials.json, ~/.codex/auth.json, ~/.gemini/oauth_creds.json).",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Do not open a browser or listen for its callback: print the URL and read the "
    "pasted code (for headless servers).",
)
@with_context
def login(
    ctx: Context, provider: str, name: str | None, import_file: Path | None, no_browser: bool
) -> None:
    """Log in a subscription account of PROVIDER (cc, cx, gc, gh, qw, kr, if...) and store it.

    Authorization-code providers print a URL: open it, approve, and paste the code shown
    (``code#state``) or the address the browser ended on; a provider with a local callback
    port (Codex) receives it by itself when the browser runs on this machine. Device-code
    providers print a code to enter at their verification URL and wait. Logging in to an
    account that is already stored updates that connection.
    """
    target = ctx.registry.prefixes.get(provider.lower())
    if not isinstance(target, OAuthProvider):
        known = sorted(
            p.id for p in ctx.registry.providers.values() if isinstance(p, OAuthProvider)
        )
        raise click.ClickException(
            f"'{provider}' is not a subscription provider; known: {', '.join(known) or 'none'} "
            "(API-key providers: 'omniroute providers add')"
        )
    timeout = aiohttp.ClientTimeout(
        total=None, connect=ctx.settings.connect_timeout, sock_read=ctx.settings.read_timeout
    )
    try:
        content = import_file.read_text() if import_file is not None else None
        creds = asyncio.run(_obtain(ctx, target, content, no_browser, timeout))
    except OAuthError as err:
        raise click.ClickException(f"login refused: {err}") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise click.ClickException(
            f"login failed: the authorization server did not answer ({type(exc).__name__})"
        ) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    view, created = save_login(ctx.db, ctx.secrets.vault, target.id, creds, name)
    account = creds.email or creds.account_id or "unknown account"
    verb = "added" if created else "updated"
    click.echo(f"{verb} connection {view['id']} '{view['name']}' ({target.id}, {account})")


async def _obtain(
    ctx: Context,
    provider: OAuthProvider,
    import_content: str | None,
    no_browser: bool,
    client_timeout: aiohttp.ClientTimeout,
) -> OAuthCredentials:
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        if import_content is not None:
            flow = _driver(ctx, provider.import_flow)
            if not isinstance(flow, ImportFlow):
                raise ValueError(f"provider '{provider.id}' has no credential-file import")
            return await flow.finish(session, flow.read(import_content))
        flow = _driver(ctx, provider.auth_flow)
        if isinstance(flow, DeviceCodeFlow):
            return await _device(session, flow)
        if isinstance(flow, AuthorizationCodeFlow):
            return await _authorization_code(session, flow, no_browser)
        raise ValueError(f"provider '{provider.id}' has no login flow ('{provider.auth_flow}')")


def _driver(ctx: Context, flow_id: str | None) -> Any:
    return getattr(ctx.registry.auth_flows.get(flow_id or ""), "driver", None)


async def _device(session: aiohttp.ClientSession, flow: DeviceCodeFlow) -> OAuthCredentials:
    start = await flow.start(session)
    click.echo(f"Open {start.verification_uri} and enter the code {start.user_code}")
    if start.verification_uri_complete:
        click.echo(f"(or open {start.verification_uri_complete})")
    click.echo(f"Waiting for approval (expires in {start.expires_in} s)...")
    return await flow.wait(session, start)


async def _authorization_code(
    session: aiohttp.ClientSession, flow: AuthorizationCodeFlow, no_browser: bool
) -> OAuthCredentials:
    start = flow.start()
    click.echo("Open this URL in a browser and approve the login:")
    click.echo(start.url)
    listen = flow.callback_port is not None and not no_browser
    if not no_browser:
        webbrowser.open(start.url)
    if listen:
        click.echo(
            f"Waiting for the browser on port {flow.callback_port}; or paste the code or the "
            "address the browser ended on:"
        )
    else:
        click.echo("Paste the code shown after approval (code#state):")
    pasted = await _wait_for_code(flow, start, listen)
    return await flow.exchange(session, start, pasted)


async def _wait_for_code(
    flow: AuthorizationCodeFlow, start: AuthorizationStart, listen: bool
) -> str:
    """The pasted code, or the callback's when the listener runs and answers first."""
    loop = asyncio.get_running_loop()
    pasted: asyncio.Future[str] = loop.create_future()

    def got(line: str) -> None:
        if pasted.done():
            return
        if line:
            pasted.set_result(line)
        elif not listen:  # with a listener, an empty stdin just leaves the browser to answer
            pasted.set_exception(ValueError("no code was pasted"))

    def read_stdin() -> None:
        loop.call_soon_threadsafe(got, sys.stdin.readline().strip())

    # A daemon thread: a blocked read must not keep the command alive once the browser answered.
    threading.Thread(target=read_stdin, name="omniroute-login-stdin", daemon=True).start()
    waiters: list[asyncio.Future[str]] = [pasted]
    if listen:
        waiters.append(asyncio.ensure_future(flow.listen(start, WAIT_SECONDS)))
    done, rest = await asyncio.wait(
        waiters, timeout=WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED
    )
    for waiter in rest:
        waiter.cancel()
    if not done:
        raise TimeoutError
    return done.pop().result()
