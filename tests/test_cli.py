"""The ``omniroute`` command line: help, providers, keys, plugins, and ``run`` as a process."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from omniroute.cli import build_cli
from omniroute.testing import FakeOpenAIUpstream
from tests.conftest import UPSTREAM_KEY

OMNIROUTE = Path(sys.executable).parent / "omniroute"
CHAT = {"model": "openai/gpt-5", "messages": [{"role": "user", "content": "hi"}]}


def command_paths(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subcommand of the group, as argument paths."""
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from command_paths(sub, (*path, name))


def omniroute(*args: str, data_dir: Path | None = None, input: str | None = None) -> Result:
    """Run a CLI command in-process, on ``data_dir`` when given."""
    argv = [*args, *(["--data-dir", str(data_dir)] if data_dir else [])]
    return CliRunner().invoke(build_cli(), argv, input=input, catch_exceptions=False)


def ok(*args: str, data_dir: Path | None = None, input: str | None = None) -> str:
    result = omniroute(*args, data_dir=data_dir, input=input)
    assert result.exit_code == 0, result.output
    return result.output


@contextlib.contextmanager
def serving(fake: FakeOpenAIUpstream) -> Iterator[str]:
    """Run the fake on its own loop in a thread: CLI commands run an event loop of their own."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = fake.serve()
    try:
        yield asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(5)
    finally:
        asyncio.run_coroutine_threadsafe(server.__aexit__(None, None, None), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def add_connection(data_dir: Path, base_url: str, api_key: str = UPSTREAM_KEY) -> str:
    """Add an openai connection through the CLI; returns its id."""
    ok(
        "providers",
        "add",
        "openai",
        "--api-key",
        api_key,
        "--base-url",
        base_url,
        data_dir=data_dir,
    )
    return json.loads(ok("providers", "list", "--json", data_dir=data_dir))[-1]["id"]


# -- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(command_paths(build_cli())), ids=" ".join)
def test_every_command_has_help(path):
    result = omniroute(*path, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    command = build_cli()
    for name in path:
        command = command.commands[name]
    assert command.help and command.help.split()[0] in result.output


def test_run_help_documents_port_host_and_data_dir():
    output = ok("run", "--help")
    for flag, env in (("--port", "PORT"), ("--host", "HOSTNAME"), ("--data-dir", "DATA_DIR")):
        assert flag in output and env in output


# -- providers ----------------------------------------------------------------------------------


def test_providers_add_then_list_shows_the_key_only_masked(tmp_path):
    output = ok(
        "providers",
        "add",
        "openai",
        "--api-key",
        UPSTREAM_KEY,
        "--base-url",
        "http://127.0.0.1:9/v1",
        data_dir=tmp_path,
    )
    assert "added connection" in output and UPSTREAM_KEY not in output
    listing = ok("providers", "list", data_dir=tmp_path)
    assert "openai" in listing and "http://127.0.0.1:9/v1" in listing
    assert UPSTREAM_KEY[:4] in listing and UPSTREAM_KEY not in listing


def test_providers_list_json_is_the_api_view(tmp_path):
    add_connection(tmp_path, "http://127.0.0.1:9/v1")
    output = ok("providers", "list", "--json", data_dir=tmp_path)
    [conn] = json.loads(output)
    assert conn["provider"] == "openai" and conn["baseUrl"] == "http://127.0.0.1:9/v1"
    assert conn["isActive"] is True and conn["priority"] == 0
    assert UPSTREAM_KEY not in output


def test_providers_add_prompts_for_a_key_not_given_on_the_command_line(tmp_path):
    output = ok("providers", "add", "ds", data_dir=tmp_path, input=UPSTREAM_KEY + "\n")
    assert UPSTREAM_KEY not in output
    [conn] = json.loads(ok("providers", "list", "--json", data_dir=tmp_path))
    assert conn["provider"] == "deepseek"


def test_providers_remove_deletes_the_connection(tmp_path):
    conn_id = add_connection(tmp_path, "http://127.0.0.1:9/v1")
    assert conn_id in ok("providers", "remove", conn_id, data_dir=tmp_path)
    assert json.loads(ok("providers", "list", "--json", data_dir=tmp_path)) == []
    result = omniroute("providers", "remove", conn_id, data_dir=tmp_path)
    assert result.exit_code != 0 and "not found" in result.output


def test_providers_add_with_an_unknown_provider_fails_clearly(tmp_path):
    result = omniroute("providers", "add", "nope", "--api-key", UPSTREAM_KEY, data_dir=tmp_path)
    assert result.exit_code != 0
    assert "unknown provider 'nope'" in result.output
    assert "Traceback" not in result.output


def test_providers_add_with_a_bad_base_url_names_the_field(tmp_path):
    result = omniroute(
        "providers",
        "add",
        "openai",
        "--api-key",
        UPSTREAM_KEY,
        "--base-url",
        "ftp://x",
        data_dir=tmp_path,
    )
    assert result.exit_code != 0 and "baseUrl" in result.output


def test_providers_test_reports_ok_and_latency(tmp_path):
    with serving(FakeOpenAIUpstream(api_key=UPSTREAM_KEY)) as base_url:
        conn_id = add_connection(tmp_path, base_url)
        output = ok("providers", "test", conn_id, data_dir=tmp_path)
    assert output.startswith("ok: openai answered in ") and " ms" in output


def test_providers_test_fails_with_a_wrong_key(tmp_path):
    with serving(FakeOpenAIUpstream(api_key=UPSTREAM_KEY)) as base_url:
        conn_id = add_connection(tmp_path, base_url, api_key="sk-wrong-key-0123456789")
        result = omniroute("providers", "test", conn_id, data_dir=tmp_path)
    assert result.exit_code == 1
    assert "Incorrect API key" in result.output
    assert "sk-wrong-key-0123456789" not in result.output


def test_providers_test_of_an_unknown_connection_fails(tmp_path):
    result = omniroute("providers", "test", "missing", data_dir=tmp_path)
    assert result.exit_code != 0 and "not found" in result.output


# -- keys ---------------------------------------------------------------------------------------


def created_key(output: str) -> str:
    [key] = [line for line in output.splitlines() if line.startswith("sk-omni-")]
    return key


def test_keys_create_prints_the_key_once(tmp_path):
    output = ok("keys", "create", "laptop", data_dir=tmp_path)
    key = created_key(output)
    assert output.count(key) == 1 and "laptop" in output


def test_keys_list_shows_only_masks(tmp_path):
    key = created_key(ok("keys", "create", "laptop", data_dir=tmp_path))
    for args in (("keys", "list"), ("keys", "list", "--json")):
        output = ok(*args, data_dir=tmp_path)
        assert "laptop" in output and key not in output
    [listed] = json.loads(ok("keys", "list", "--json", data_dir=tmp_path))
    assert listed["active"] is True and listed["key"].endswith(key[-4:])


def test_keys_revoke_marks_the_key_inactive(tmp_path):
    ok("keys", "create", "ci", data_dir=tmp_path)
    [listed] = json.loads(ok("keys", "list", "--json", data_dir=tmp_path))
    assert listed["id"] in ok("keys", "revoke", listed["id"], data_dir=tmp_path)
    [listed] = json.loads(ok("keys", "list", "--json", data_dir=tmp_path))
    assert listed["active"] is False
    assert omniroute("keys", "revoke", "missing", data_dir=tmp_path).exit_code != 0


# -- plugins ------------------------------------------------------------------------------------


def test_plugins_lists_omniroute_openai_with_its_providers():
    output = ok("plugins")
    version = importlib.metadata.version("omniroute-openai")
    assert f"omniroute-openai {version} (omniroute-openai)" in output
    provider_line = next(line for line in output.splitlines() if "openai, " in line)
    for provider in ("deepseek", "groq", "openrouter", "openai-compatible"):
        assert provider in provider_line
    assert "omniroute.formats.openai" in output and "built-in" in output


def test_plugins_json_describes_each_plugin():
    plugins = {p["name"]: p for p in json.loads(ok("plugins", "--json"))}
    assert "openai" in plugins["omniroute-openai"]["registered"]["provider"]
    assert plugins["omniroute.formats.openai"]["builtin"] is True


# -- the CLI and a running gateway --------------------------------------------------------------


async def test_a_connection_added_by_the_cli_reaches_a_running_gateway(
    make_gateway, upstream, tmp_path
):
    data_dir = tmp_path / "shared"
    gw = await make_gateway(data_dir=data_dir)
    client = gw.openai()
    assert not (await client.models.list()).data
    add_connection(data_dir, upstream)
    deadline = time.monotonic() + 5
    while not (await client.models.list()).data:
        assert time.monotonic() < deadline, "the gateway never saw the CLI's connection"
        await asyncio.sleep(0.05)
    reply = await client.chat.completions.create(
        model="openai/gpt-5", messages=[{"role": "user", "content": "cli"}]
    )
    assert reply.choices[0].message.content == "echo: cli"


async def test_a_key_created_by_the_cli_authenticates_at_a_running_gateway(
    make_gateway, upstream, tmp_path
):
    data_dir = tmp_path / "shared"
    gw = await make_gateway(data_dir=data_dir, require_api_key=True)
    await gw.connect(upstream)
    key = created_key(ok("keys", "create", "tool", data_dir=data_dir))
    deadline = time.monotonic() + 5
    while (await gw.post("/v1/chat/completions", json=CHAT, headers=bearer(key)))[0] == 401:
        assert time.monotonic() < deadline, "the gateway never saw the CLI's key"
        await asyncio.sleep(0.05)


# -- omniroute run, as a real process -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """``omniroute run`` in a subprocess, its output read line by line in the background."""

    def __init__(self, data_dir: Path, port: int) -> None:
        env = {**os.environ, "PORT": str(port), "DATA_DIR": str(data_dir)}
        env.update(HOSTNAME="127.0.0.1", PYTHONUNBUFFERED="1")
        env.pop("INITIAL_PASSWORD", None)
        self.proc = subprocess.Popen(
            [str(OMNIROUTE), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {text!r} in output: {self.seen}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def login(base: str, password: str) -> int:
    request = urllib.request.Request(
        base + "/api/auth/login",
        data=json.dumps({"password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return resp.status


def test_first_start_prints_the_urls_and_a_generated_password_that_logs_in(tmp_path):
    port = free_port()
    gateway = Process(tmp_path, port)
    try:
        password = gateway.wait_for("dashboard password is").rsplit(" ", 1)[1]
        gateway.wait_for(f"listening on http://127.0.0.1:{port}")
        gateway.wait_for(f"http://127.0.0.1:{port}/v1")
        gateway.wait_for("Dashboard")
        assert login(f"http://127.0.0.1:{port}", password) == 200
        stopping = time.monotonic()
    finally:
        code = gateway.stop()
    assert code == 0 and time.monotonic() - stopping < 5


def test_a_second_start_prints_no_password(tmp_path):
    port = free_port()
    for _ in range(2):
        gateway = Process(tmp_path, port)
        try:
            gateway.wait_for("listening on")
        finally:
            gateway.stop()
    assert not any("password" in line for line in gateway.seen)


def test_sigterm_as_soon_as_it_is_listening_stops_it_cleanly(tmp_path):
    gateway = Process(tmp_path, free_port())
    try:
        gateway.wait_for("listening on")
    finally:
        assert gateway.stop() == 0
