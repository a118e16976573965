"""Benchmark the OmniRoute gateway against the bare aiohttp proxy, side by side, in one run.

Starts mock_upstream.py, the gateway (fresh DATA_DIR, one connection pointing at the mock, a real
client key, REQUIRE_API_KEY=true) and bare_proxy.py, each on a free port; checks that both answer
200 and that streams end properly; loads each at 1 and 16 connections in each mode (wrk, or the
Python fallback in loadgen.py); prints req/s, p50, p99 and RSS side by side and checks the
targets. Every child process is ended on exit, Ctrl-C included.

Modes: ``json`` and ``stream`` (OpenAI chat completions, JSON and SSE, on both servers) and
``anthropic-stream`` (an Anthropic Messages client streaming through the gateway's
``/v1/messages`` from the mock's OpenAI-format stream, which the gateway translates; the bare
proxy cannot translate, so its side is the same upstream stream relayed as in ``stream`` mode)
and ``combo`` (the gateway called with a three-target combo whose first target is healthy,
against the same gateway called with that target directly: the cost of planning a combo).

Usage: .venv/bin/python bench/run.py [--duration 10] [--warmup 2] [--json results.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"
MODEL = "openai/gpt-5"
COMBO = "bench-combo"
#: The combo's targets: the measured one first, then two that are connected (to the same mock)
#: but never reached while the first answers.
COMBO_TARGETS = (MODEL, "groq/llama-3.3-70b-versatile", "xai/grok-4")
UPSTREAM_KEY = "sk-bench-upstream-key"
LOAD_CORE, SERVER_CORE = 0, 1
READY_TIMEOUT = 30.0
SETTLE_SECONDS = 0.5
RESULT_TAG = "BENCH_RESULT "
THROUGHPUT_MIN_RATIO = 0.5
TRANSLATED_THROUGHPUT_MIN_RATIO = 0.35
COMBO_THROUGHPUT_MIN_RATIO = 0.9
LATENCY_MAX_RATIO = 2.0
OTHER_LOAD_WARN = 0.10

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
{headers}

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{tag}{{"requests":%d,"duration_us":%d,"p50_us":%.1f,"p99_us":%.1f,"mean_us":%.1f,' ..
    '"max_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


class BenchError(Exception):
    """The bench cannot produce honest figures; the message says why."""


@dataclass(frozen=True)
class Call:
    """One request shape: where it goes, what it sends and how a good answer looks.

    ``kind`` is ``json`` (a chat completion), ``chat-stream`` (OpenAI SSE ending with
    ``data: [DONE]``) or ``messages-stream`` (Anthropic SSE from ``message_start`` to
    ``message_stop``).
    """

    kind: str
    path: str
    payload: dict[str, Any]

    @property
    def body(self) -> bytes:
        """The request body, compact JSON."""
        return json.dumps(self.payload, separators=(",", ":")).encode()

    def headers(self, key: str | None) -> dict[str, str]:
        """Request headers with the client key sent the way this kind of client sends it."""
        headers = {"Content-Type": "application/json"}
        if self.kind == "messages-stream":
            headers["anthropic-version"] = ANTHROPIC_VERSION
            if key:
                headers["x-api-key"] = key
        elif key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    @property
    def stream_end(self) -> str | None:
        """What the last SSE event of a good stream starts with; None for JSON answers."""
        return {"chat-stream": "data: [DONE]", "messages-stream": "event: message_stop"}.get(
            self.kind
        )


CHAT_MESSAGES = [{"role": "user", "content": "hi"}]
CHAT_JSON = Call("json", CHAT_PATH, {"model": MODEL, "messages": CHAT_MESSAGES})
CHAT_STREAM = Call(
    "chat-stream", CHAT_PATH, {"model": MODEL, "messages": CHAT_MESSAGES, "stream": True}
)
MESSAGES_STREAM = Call(
    "messages-stream",
    MESSAGES_PATH,
    {"model": MODEL, "max_tokens": 256, "stream": True, "messages": CHAT_MESSAGES},
)
COMBO_JSON = Call("json", CHAT_PATH, {"model": COMBO, "messages": CHAT_MESSAGES})

MODES: dict[str, dict[str, Call]] = {
    "json": {"bare": CHAT_JSON, "gateway": CHAT_JSON},
    "stream": {"bare": CHAT_STREAM, "gateway": CHAT_STREAM},
    # The bare proxy cannot translate: its baseline is the same upstream stream relayed as is.
    "anthropic-stream": {"bare": CHAT_STREAM, "gateway": MESSAGES_STREAM},
    # Both sides are the gateway: the combo against its first target called directly.
    "combo": {"bare": CHAT_JSON, "gateway": COMBO_JSON},
}
"""Per mode, the request each side gets (``bare``: the baseline side)."""

GATEWAY_BASELINE = frozenset({"combo"})
"""Modes whose baseline side is the gateway itself (the cost of one feature, measured against
the same gateway without it), not the bare proxy."""

THROUGHPUT_TARGETS = {
    "anthropic-stream": TRANSLATED_THROUGHPUT_MIN_RATIO,
    "combo": COMBO_THROUGHPUT_MIN_RATIO,
}
"""Gateway req/s at 16 connections over bare, per mode where not ``THROUGHPUT_MIN_RATIO``."""

LATENCY_TARGETS: dict[str, float | None] = {"anthropic-stream": None, "combo": None}
"""Gateway p50 at 1 connection over bare, per mode where not ``LATENCY_MAX_RATIO``; None:
reported only."""


@dataclass
class Server:
    """A server under test: its label, port and process."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]


@dataclass
class Measurement:
    """One load run against one server."""

    server: str
    mode: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int
    rss_mb: float
    peak_rss_mb: float
    cpu_us_per_request: float
    other_load: float


@dataclass
class Plan:
    """What to run and how."""

    python: Path
    omniroute: Path
    shared: Path
    duration: float
    warmup: float
    connections: list[int]
    modes: list[str]
    loadgen: str
    pin: bool
    rounds: int
    logdir: Path
    key: str = ""
    notes: list[str] = field(default_factory=list)


class Children:
    """Every process the bench starts, each in its own session; ``close`` ends them all."""

    def __init__(self, logdir: Path, pin: bool) -> None:
        self.logdir = logdir
        self.pin = pin
        self.procs: list[subprocess.Popen[Any]] = []

    def argv(self, argv: list[str], core: int | None) -> list[str]:
        """``argv`` prefixed with ``taskset -c core`` when pinning."""
        if self.pin and core is not None:
            return ["taskset", "-c", str(core), *argv]
        return argv

    def start(
        self, name: str, argv: list[str], core: int | None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-lived child with its output in ``<logdir>/<name>.log``."""
        with open(self.logdir / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                self.argv(argv, core),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.logdir,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def run(
        self, argv: list[str], core: int | None, timeout: float, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a short-lived child to completion and return its output."""
        proc = subprocess.Popen(
            self.argv(argv, core),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            end(proc)
            self.procs.remove(proc)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def close(self) -> None:
        """End every child still running, newest first."""
        for proc in reversed(self.procs):
            end(proc)
        self.procs.clear()


def end(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it is still there after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(logdir: Path, name: str, lines: int = 20) -> str:
    """The last lines of a child's log, for error messages."""
    path = logdir / f"{name}.log"
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_ready(name: str, port: int, proc: subprocess.Popen[bytes], logdir: Path) -> None:
    """Poll until ``port`` accepts connections; fail if the process exits or takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_tail(logdir, name)
            raise BenchError(f"{name} exited with status {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{name} did not listen on port {port} within {READY_TIMEOUT:.0f} s")


def gateway_env(data_dir: Path, port: int | None = None) -> dict[str, str]:
    """The environment for ``omniroute`` commands: fresh DATA_DIR, API keys required."""
    env = dict(os.environ, DATA_DIR=str(data_dir), REQUIRE_API_KEY="true")
    env["INITIAL_PASSWORD"] = "bench"
    if port is not None:
        env["PORT"] = str(port)
    return env


def omniroute_cli(children: Children, plan: Plan, args: list[str], data_dir: Path) -> str:
    """Run an ``omniroute`` management command and return its stdout; fail on a non-zero exit."""
    done = children.run([str(plan.omniroute), *args], None, 60, gateway_env(data_dir))
    if done.returncode != 0:
        cmd = " ".join(["omniroute", *args[:2]])
        raise BenchError(f"`{cmd}` failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def configure_gateway(children: Children, plan: Plan, data_dir: Path, mock_port: int) -> str:
    """Add one connection pointing at the mock and create a client key; return the key."""
    base_url = f"http://127.0.0.1:{mock_port}/v1"
    add = ["providers", "add", "openai", "--api-key", UPSTREAM_KEY, "--base-url", base_url]
    omniroute_cli(children, plan, [*add, "--name", "mock"], data_dir)
    if "combo" in plan.modes:
        for target in COMBO_TARGETS[1:]:
            provider = target.partition("/")[0]
            add = ["providers", "add", provider, "--api-key", UPSTREAM_KEY, "--base-url", base_url]
            omniroute_cli(children, plan, add, data_dir)
        omniroute_cli(children, plan, ["combos", "add", COMBO, *COMBO_TARGETS], data_dir)
    lines = omniroute_cli(children, plan, ["keys", "create", "bench"], data_dir).split()
    if not lines:
        raise BenchError("`omniroute keys create` printed no key")
    return lines[-1]


def start_mock(children: Children, plan: Plan) -> int:
    """Start mock_upstream.py on a free port (load-generator core) and return the port."""
    port = free_port()
    script = plan.shared / "mock_upstream.py"
    proc = children.start("mock", [str(plan.python), str(script), str(port)], LOAD_CORE)
    wait_ready("mock", port, proc, plan.logdir)
    return port


def start_bare(children: Children, plan: Plan, mock_port: int) -> Server:
    """Start bare_proxy.py in front of the mock, pinned to the server core."""
    port = free_port()
    script = plan.shared / "bare_proxy.py"
    upstream = f"http://127.0.0.1:{mock_port}/v1"
    argv = [str(plan.python), str(script), str(port), upstream]
    proc = children.start("bare", argv, SERVER_CORE)
    wait_ready("bare", port, proc, plan.logdir)
    return Server("bare", port, proc)


def start_gateway(children: Children, plan: Plan, mock_port: int) -> Server:
    """Configure a fresh DATA_DIR, then start ``omniroute run`` pinned to the server core."""
    data_dir = plan.logdir / "data"
    data_dir.mkdir()
    plan.key = configure_gateway(children, plan, data_dir, mock_port)
    port = free_port()
    argv = [str(plan.omniroute), "run", "--port", str(port)]
    proc = children.start("gateway", argv, SERVER_CORE, gateway_env(data_dir, port))
    wait_ready("gateway", port, proc, plan.logdir)
    return Server("gateway", port, proc)


def post(port: int, call: Call, key: str | None) -> tuple[int, bytes]:
    """Send ``call`` and return the status and the whole answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", call.path, body=call.body, headers=call.headers(key))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def checked_post(server: Server, call: Call, key: str | None) -> tuple[int, bytes]:
    """:func:`post`, turning a connection failure into a :class:`BenchError`."""
    try:
        return post(server.port, call, key)
    except (OSError, http.client.HTTPException) as exc:
        raise BenchError(f"{server.name} did not answer a request: {exc!r}") from exc


def last_event(data: bytes) -> bytes:
    """The last SSE event of a stream (line endings normalised, trailing blank lines dropped)."""
    return data.replace(b"\r\n", b"\n").strip().rpartition(b"\n\n")[2]


def answer_problem(call: Call, data: bytes) -> str | None:
    """Why a 200 answer to ``call`` is not a good one, or None when it is."""
    if call.kind == "json" and b'"choices"' not in data:
        return f"no completion in {data[:300]!r}"
    if call.kind == "messages-stream" and b"event: message_start" not in data:
        return f"no event: message_start in {data[:300]!r}"
    end = call.stream_end
    if end and not last_event(data).startswith(end.encode()):
        return f"stream does not end with {end}: {data[-300:]!r}"
    return None


def server_calls(plan: Plan, name: str) -> dict[str, Call]:
    """The distinct requests ``name`` gets in this run (json and stream always checked),
    by the first mode that uses each."""
    calls: dict[str, Call] = {}
    for mode in dict.fromkeys(["json", "stream", *plan.modes]):
        for role, call in MODES[mode].items():
            if role == name or (name == "gateway" and mode in GATEWAY_BASELINE):
                calls.setdefault(f"{call.kind} {call.payload['model']}", call)
    return calls


def verify_answers(plan: Plan, server: Server) -> None:
    """Fail unless the server answers every request of the run with 200 and a good answer:
    a completion, an OpenAI stream ending with ``data: [DONE]``, an Anthropic stream from
    ``message_start`` to ``message_stop``."""
    for kind, call in server_calls(plan, server.name).items():
        status, data = checked_post(server, call, plan.key)
        if status != 200:
            raise BenchError(
                f"{server.name} answered HTTP {status} to a {kind} request on {call.path}:"
                f" {data[:300]!r}"
            )
        problem = answer_problem(call, data)
        if problem:
            raise BenchError(f"{server.name}, {kind} request on {call.path}: {problem}")


def verify_auth_enforced(plan: Plan, server: Server) -> None:
    """Fail unless the gateway refuses a request without a key (REQUIRE_API_KEY took effect)
    on every front door of the run."""
    for call in server_calls(plan, server.name).values():
        status, _ = checked_post(server, call, None)
        if status != 401:
            raise BenchError(
                f"gateway answered HTTP {status} to a request without a key on {call.path}, not 401"
            )


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in kB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` (all its threads) has used so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def core_busy_seconds(core: int) -> float:
    """Time ``core`` has not been idle (steal included) since boot, from /proc/stat."""
    prefix = f"cpu{core} "
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(prefix):
            ticks = [int(v) for v in line.split()[1:9]]
            idle, iowait = ticks[3], ticks[4]
            return (sum(ticks) - idle - iowait) / os.sysconf("SC_CLK_TCK")
    return 0.0


@dataclass
class Usage:
    """CPU counters sampled around a measurement."""

    server: float
    core: float
    wall: float

    @classmethod
    def sample(cls, pid: int) -> Usage:
        """The server's CPU time, the server core's busy time and the wall clock, now."""
        return cls(cpu_seconds(pid), core_busy_seconds(SERVER_CORE), time.monotonic())

    def other_load(self, before: Usage) -> float:
        """Share of the server core used by anything but the server (other processes, kernel
        work not charged to it, hypervisor steal) between ``before`` and this sample."""
        wall = self.wall - before.wall
        foreign = (self.core - before.core) - (self.server - before.server)
        return max(0.0, foreign / wall) if wall > 0 else 0.0


def wrk_argv(url: str, connections: int, seconds: float, script: Path) -> list[str]:
    """The wrk command line: one thread, keep-alive connections, the Lua POST script."""
    return [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]


def loadgen_argv(
    plan: Plan, url: str, connections: int, seconds: float, call: Call, stem: str
) -> list[str]:
    """The Python fallback load generator's command line."""
    argv = [
        str(plan.python),
        str(BENCH / "loadgen.py"),
        "--url",
        url,
        "--connections",
        str(connections),
        "--duration",
        str(seconds),
        "--body-file",
        str(plan.logdir / f"body-{stem}.json"),
    ]
    for name, value in call.headers(plan.key).items():
        argv += ["--header", f"{name}: {value}"]
    if call.stream_end:
        argv += ["--stream-end", call.stream_end]
    return argv


def wrk_script(call: Call, key: str) -> str:
    """The wrk Lua script POSTing ``call`` with its headers and printing the JSON summary."""
    headers = "\n".join(
        f'wrk.headers["{name}"] = "{value}"' for name, value in call.headers(key).items()
    )
    return WRK_SCRIPT.format(body=call.body.decode(), headers=headers, tag=RESULT_TAG)


def write_load_inputs(plan: Plan) -> None:
    """Write the wrk Lua scripts and request bodies for each mode and side into the log
    directory, as ``wrk-<mode>-<side>.lua`` and ``body-<mode>-<side>.json``."""
    for mode in plan.modes:
        for name, call in MODES[mode].items():
            (plan.logdir / f"body-{mode}-{name}.json").write_bytes(call.body)
            (plan.logdir / f"wrk-{mode}-{name}.lua").write_text(wrk_script(call, plan.key))


def drive(
    children: Children,
    plan: Plan,
    server: Server,
    mode: str,
    connections: int,
    seconds: float,
    role: str,
) -> dict[str, float]:
    """Load ``server`` with ``role``'s request for ``seconds``; the load generator's summary."""
    call = MODES[mode][role]
    stem = f"{mode}-{role}"
    url = f"http://127.0.0.1:{server.port}{call.path}"
    if plan.loadgen == "wrk":
        argv = wrk_argv(url, connections, seconds, plan.logdir / f"wrk-{stem}.lua")
    else:
        argv = loadgen_argv(plan, url, connections, seconds, call, stem)
    done = children.run(argv, LOAD_CORE, seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return dict(json.loads(line[len(RESULT_TAG) :]))
    raise BenchError(
        f"load generator gave no result ({done.returncode}):\n{done.stdout}{done.stderr}"
    )


def measure(
    children: Children,
    plan: Plan,
    server: Server,
    mode: str,
    connections: int,
    role: str | None = None,
) -> Measurement:
    """Warm up, then load ``server`` with ``role``'s request (default: the one named like the
    server) and collect throughput, latency, RSS and CPU time."""
    role = role or server.name
    if server.proc.poll() is not None:
        raise BenchError(f"{server.name} exited:\n{log_tail(plan.logdir, server.name)}")
    if plan.warmup > 0:
        drive(children, plan, server, mode, connections, plan.warmup, role)
    time.sleep(SETTLE_SECONDS)
    before = Usage.sample(server.proc.pid)
    raw = drive(children, plan, server, mode, connections, plan.duration, role)
    after = Usage.sample(server.proc.pid)
    mem = proc_status(server.proc.pid)
    requests = int(raw["requests"])
    seconds = raw["duration_us"] / 1e6
    errors = int(raw["connect"] + raw["read"] + raw["write"] + raw["timeout"])
    return Measurement(
        server=server.name if role == server.name else f"{server.name}:direct",
        mode=mode,
        connections=connections,
        requests=requests,
        seconds=seconds,
        rps=raw["requests"] / seconds if seconds else 0.0,
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        non_2xx=int(raw["status"]),
        rss_mb=mem.get("VmRSS", 0) / 1024,
        peak_rss_mb=mem.get("VmHWM", 0) / 1024,
        cpu_us_per_request=(after.server - before.server) / requests * 1e6 if requests else 0.0,
        other_load=after.other_load(before) if plan.pin else float("nan"),
    )


def cells(plan: Plan) -> Iterator[tuple[str, int]]:
    """Every (mode, connections) pair to measure, in order."""
    for mode in plan.modes:
        for connections in plan.connections:
            yield mode, connections


def run_all(
    children: Children, plan: Plan, bare: Server, gateway: Server
) -> tuple[list[tuple[Measurement, Measurement]], list[Measurement]]:
    """Measure the baseline and the gateway ``plan.rounds`` times per cell, alternating which
    goes first. The baseline is the bare proxy, or for a mode in ``GATEWAY_BASELINE`` the
    gateway answering the baseline request.

    Returns the per-cell medians, paired (baseline, gateway), and every single measurement.
    """
    pairs = []
    everything: list[Measurement] = []
    for index, (mode, connections) in enumerate(cells(plan)):
        got: dict[str, list[Measurement]] = {"bare": [], "gateway": []}
        base = gateway if mode in GATEWAY_BASELINE else bare
        sides = [("bare", base), ("gateway", gateway)]
        for round_ in range(plan.rounds):
            for role, server in sides if (index + round_) % 2 == 0 else sides[::-1]:
                m = measure(children, plan, server, mode, connections, role)
                report_progress(m)
                got[role].append(m)
                everything.append(m)
        pairs.append((median_of(got["bare"]), median_of(got["gateway"])))
    return pairs, everything


def median_of(runs: list[Measurement]) -> Measurement:
    """One measurement summarising several of the same cell: medians of the rates and
    latencies, summed errors, the last RSS and the highest peak."""

    def mid(attr: str) -> float:
        return float(statistics.median(getattr(m, attr) for m in runs))

    return replace(
        runs[-1],
        requests=sum(m.requests for m in runs),
        seconds=sum(m.seconds for m in runs),
        rps=mid("rps"),
        p50_ms=mid("p50_ms"),
        p99_ms=mid("p99_ms"),
        errors=sum(m.errors for m in runs),
        non_2xx=sum(m.non_2xx for m in runs),
        peak_rss_mb=max(m.peak_rss_mb for m in runs),
        cpu_us_per_request=mid("cpu_us_per_request"),
        other_load=mid("other_load"),
    )


def report_progress(m: Measurement) -> None:
    """One line per finished measurement, so a long run shows it is alive."""
    print(
        f"  {m.server:<14} {m.mode:<16} c={m.connections:<3} {m.rps:9.0f} req/s"
        f"  p50 {m.p50_ms:7.3f} ms  p99 {m.p99_ms:7.3f} ms  RSS {m.rss_mb:5.1f} MB"
        f"  errors {m.errors + m.non_2xx}  other load on server core {share(m.other_load)}",
        flush=True,
    )


def share(value: float) -> str:
    """A fraction as a percentage, or n/a when it was not measured (NaN)."""
    return "n/a" if math.isnan(value) else f"{value:.0%}"


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or NaN when the denominator is zero."""
    return numerator / denominator if denominator else float("nan")


def table(pairs: list[tuple[Measurement, Measurement]]) -> str:
    """The side-by-side figures as a Markdown table."""
    head = (
        "| mode | conns | bare req/s | gateway req/s | ratio | bare p50 ms | gateway p50 ms"
        " | p50 ratio | bare p99 ms | gateway p99 ms | bare RSS MB (peak) | gateway RSS MB (peak)"
        " | bare CPU µs/req | gateway CPU µs/req |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for bare, gw in pairs:
        lines.append(
            f"| {bare.mode} | {bare.connections} | {bare.rps:,.0f} | {gw.rps:,.0f}"
            f" | {ratio(gw.rps, bare.rps):.2f} | {bare.p50_ms:.3f} | {gw.p50_ms:.3f}"
            f" | {ratio(gw.p50_ms, bare.p50_ms):.2f} | {bare.p99_ms:.3f} | {gw.p99_ms:.3f}"
            f" | {bare.rss_mb:.1f} ({bare.peak_rss_mb:.1f})"
            f" | {gw.rss_mb:.1f} ({gw.peak_rss_mb:.1f})"
            f" | {bare.cpu_us_per_request:.0f} | {gw.cpu_us_per_request:.0f} |"
        )
    return "\n".join(lines)


def check_targets(pairs: list[tuple[Measurement, Measurement]]) -> list[dict[str, Any]]:
    """The targets per mode: req/s ratio at 16 connections and p50 ratio at 1 connection.

    A mode without a p50 target (``LATENCY_TARGETS``) gets its p50 ratio reported with
    ``"pass": None``, unless the load saw errors, which fails it like any target.
    """
    results = []
    for bare, gw in pairs:
        clean = not (bare.errors or bare.non_2xx or gw.errors or gw.non_2xx)
        ok: bool | None
        if bare.connections == 16:
            value = ratio(gw.rps, bare.rps)
            floor = THROUGHPUT_TARGETS.get(bare.mode, THROUGHPUT_MIN_RATIO)
            target = f"gateway req/s at 16 conns >= {floor}x bare"
            ok = value >= floor
        elif bare.connections == 1:
            value = ratio(gw.p50_ms, bare.p50_ms)
            ceiling = LATENCY_TARGETS.get(bare.mode, LATENCY_MAX_RATIO)
            if ceiling is None:
                target = (
                    f"gateway p50 at 1 conn: {gw.p50_ms:.3f} ms vs bare {bare.p50_ms:.3f} ms"
                    " (reported, no target)"
                )
                ok = None
            else:
                target = f"gateway p50 at 1 conn <= {ceiling}x bare"
                ok = value <= ceiling
        else:
            continue
        results.append(
            {"target": target, "mode": bare.mode, "ratio": value, "pass": ok if clean else False}
            | ({} if clean else {"note": "errors or non-2xx answers during load"})
        )
    return results


def print_targets(results: list[dict[str, Any]]) -> None:
    """One PASS/FAIL (or INFO, for a figure reported without a target) line per target and
    mode."""
    for r in results:
        verdict = {True: "PASS", False: "FAIL", None: "INFO"}[r["pass"]]
        note = f"  ({r['note']})" if "note" in r else ""
        print(f"{verdict}  {r['target']} [{r['mode']}]: {r['ratio']:.2f}x{note}")


def print_warnings(everything: list[Measurement]) -> None:
    """Warn about measurements that saw errors or shared the server core with other work."""
    for m in everything:
        where = f"{m.server} {m.mode} c={m.connections}"
        if m.errors or m.non_2xx:
            print(
                f"WARNING: {where}: {m.non_2xx} non-2xx answers, {m.errors} socket errors/timeouts"
            )
        if m.other_load > OTHER_LOAD_WARN:
            print(
                f"WARNING: {where}: {m.other_load:.0%} of the server core went to other work"
                " (other processes, uncharged kernel time, steal): figure may be disturbed"
            )


def version_of(argv: list[str]) -> str:
    """First line of a command's output, or '' if it cannot run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else ""


def server_versions(python: Path) -> dict[str, str]:
    """Python, aiohttp and uvloop versions of the interpreter the servers run on."""
    code = (
        "import sys, aiohttp\n"
        "try:\n import uvloop; u = uvloop.__version__\n"
        "except ImportError:\n u = 'not installed'\n"
        "print(sys.version.split()[0], aiohttp.__version__, u)"
    )
    found = version_of([str(python), "-c", code]).split()
    return dict(zip(("python", "aiohttp", "uvloop"), found, strict=False))


def gateway_revision() -> str:
    """The repo's commit, marked dirty when omniroute/ or plugins/ have uncommitted changes."""
    commit = version_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    changed = version_of(["git", "-C", str(REPO), "status", "--porcelain", "omniroute", "plugins"])
    return f"{commit}{' (dirty)' if changed else ''}" if commit else "unknown"


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def machine(plan: Plan) -> dict[str, Any]:
    """What the figures were measured on."""
    loadgen = version_of(["wrk", "-v"]) if plan.loadgen == "wrk" else "python (aiohttp)"
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "kernel": platform.release(),
        **server_versions(plan.python),
        "load_generator": loadgen,
        "gateway_revision": gateway_revision(),
        "pinned": plan.pin,
    }


def print_header(info: dict[str, Any], plan: Plan) -> None:
    """The run's setup, printed before the measurements."""
    print(
        f"machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']};"
        f" servers on Python {info.get('python')}, aiohttp {info.get('aiohttp')},"
        f" uvloop {info.get('uvloop')}"
    )
    print(f"gateway revision: {info['gateway_revision']}")
    print(f"load generator: {info['load_generator']}")
    pinning = (
        f"gateway and bare proxy on core {SERVER_CORE}, load generator and mock on core {LOAD_CORE}"
        if plan.pin
        else "not pinned"
    )
    print(f"pinning: {pinning}")
    print(
        f"warm-up {plan.warmup:g} s, measurement {plan.duration:g} s per target and cell,"
        f" {plan.rounds} round(s) (table shows medians)"
    )
    for note in plan.notes:
        print(f"NOTE: {note}")


def choose_loadgen(requested: str, notes: list[str]) -> str:
    """wrk when installed (or asked for), else the Python fallback, with a note saying so."""
    have_wrk = shutil.which("wrk") is not None
    if requested == "wrk" and not have_wrk:
        raise BenchError("--loadgen wrk given but wrk is not installed")
    if requested == "python" or not have_wrk:
        why = "as requested" if requested == "python" else "wrk not found"
        notes.append(
            f"using the Python fallback load generator (aiohttp) {why}; its own CPU cost caps"
            " req/s, so absolute figures are lower than with wrk: compare ratios"
        )
        return "python"
    return "wrk"


def choose_pinning(disabled: bool, notes: list[str]) -> bool:
    """Pin when taskset exists and cores 0 and 1 are both usable."""
    if disabled:
        notes.append("pinning disabled (--no-pin)")
        return False
    if shutil.which("taskset") is None:
        notes.append("taskset not found: processes are not pinned")
        return False
    if not {LOAD_CORE, SERVER_CORE} <= os.sched_getaffinity(0):
        notes.append("fewer than 2 usable cores: processes are not pinned")
        return False
    return True


def default_python() -> Path:
    """The repo's venv interpreter if present (the gateway's), else this one."""
    venv = REPO / ".venv" / "bin" / "python"
    return venv if venv.exists() else Path(sys.executable)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per target")
    parser.add_argument("--connections", default="1,16", help="comma-separated (default 1,16)")
    parser.add_argument(
        "--modes", default=",".join(MODES), help=f"comma-separated, from {','.join(MODES)}"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measurements per target and cell; medians shown"
    )
    parser.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    parser.add_argument(
        "--shared",
        type=Path,
        default=REPO.parent / "shared" / "bench",
        help="directory holding mock_upstream.py and bare_proxy.py",
    )
    parser.add_argument("--python", type=Path, default=default_python(), help="server Python")
    parser.add_argument(
        "--omniroute", type=Path, help="omniroute script (default: next to --python)"
    )
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace, logdir: Path) -> Plan:
    """Validate the options and settle what will run."""
    omniroute = args.omniroute or args.python.parent / "omniroute"
    for path in (
        args.python,
        omniroute,
        args.shared / "mock_upstream.py",
        args.shared / "bare_proxy.py",
    ):
        if not path.exists():
            raise BenchError(f"not found: {path}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or not set(modes) <= set(MODES):
        raise BenchError(f"--modes takes some of {', '.join(MODES)}, not {args.modes!r}")
    notes: list[str] = []
    return Plan(
        python=args.python,
        omniroute=omniroute,
        shared=args.shared,
        duration=args.duration,
        warmup=args.warmup,
        connections=[int(c) for c in args.connections.split(",")],
        modes=modes,
        loadgen=choose_loadgen(args.loadgen, notes),
        pin=choose_pinning(args.no_pin, notes),
        rounds=max(1, args.rounds),
        logdir=logdir,
        notes=notes,
    )


def bench(plan: Plan, children: Children, json_path: Path | None) -> bool:
    """Start everything, verify, measure, report; True when every target passes."""
    info = machine(plan)
    print_header(info, plan)
    mock_port = start_mock(children, plan)
    gateway = start_gateway(children, plan, mock_port)
    bare = start_bare(children, plan, mock_port)
    verify_answers(plan, bare)
    verify_answers(plan, gateway)
    verify_auth_enforced(plan, gateway)
    print(
        "checked: both answer 200, OpenAI streams end with data: [DONE]"
        + (
            ", Anthropic streams run from message_start to message_stop"
            if "anthropic-stream" in plan.modes
            else ""
        )
        + ", gateway refuses keyless calls"
    )
    write_load_inputs(plan)
    pairs, everything = run_all(children, plan, bare, gateway)
    print()
    print(table(pairs))
    print()
    print_warnings(everything)
    results = check_targets(pairs)
    print_targets(results)
    if json_path:
        write_json(json_path, info, plan, pairs, everything, results)
    return all(r["pass"] is not False for r in results)


def write_json(
    path: Path,
    info: dict[str, Any],
    plan: Plan,
    pairs: list[tuple[Measurement, Measurement]],
    everything: list[Measurement],
    results: list[dict[str, Any]],
) -> None:
    """Write the machine, settings, every measurement, the per-cell figures and the target
    verdicts as JSON."""
    settings = {
        "duration": plan.duration,
        "warmup": plan.warmup,
        "rounds": plan.rounds,
        "loadgen": plan.loadgen,
    }
    doc = {
        "machine": info,
        "settings": settings,
        "notes": plan.notes,
        "cells": [asdict(m) for pair in pairs for m in pair],
        "measurements": [asdict(m) for m in everything],
        "targets": results,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")


def raise_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit so the cleanup in ``main`` runs."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def main(argv: list[str] | None = None) -> int:
    """Run the bench; exit 0 if every target passes, 1 if one fails, 2 on error, 130 on Ctrl-C."""
    args = parse_args(argv)
    raise_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="omniroute-bench-") as tmp:
        children: Children | None = None
        try:
            plan = make_plan(args, Path(tmp))
            children = Children(plan.logdir, plan.pin)
            return 0 if bench(plan, children, args.json) else 1
        except BenchError as exc:
            sys.stdout.flush()
            print(f"bench aborted: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            sys.stdout.flush()
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            if children:
                children.close()


if __name__ == "__main__":
    sys.exit(main())
