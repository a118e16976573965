"""Python fallback load generator: N concurrent keep-alive aiohttp workers POSTing one body.

Used by run.py when wrk is not installed. Prints one JSON line with the fields run.py reads from
wrk (request count, elapsed time, p50/p99 latency, error counts). The client's own CPU cost caps
the req/s it can drive, so its absolute figures are lower than wrk's: compare ratios only.

Usage: python loadgen.py --url URL --connections N --duration S --body-file F [--header 'K: V']
       [--stream-end 'data: [DONE]']

With ``--stream-end``, an answer whose last SSE event does not start with that text counts as a
read error (a stream cut short or ending in an error event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

LOG_STEP = math.log(1.01)
T = TypeVar("T")


@dataclass
class Histogram:
    """Latency histogram in microseconds with log-spaced buckets (about 1% resolution)."""

    counts: Counter[int] = field(default_factory=Counter)
    total: int = 0
    sum_us: float = 0.0
    max_us: float = 0.0

    def add(self, us: float) -> None:
        """Record one latency."""
        self.counts[int(math.log(max(us, 1.0)) / LOG_STEP)] += 1
        self.total += 1
        self.sum_us += us
        self.max_us = max(self.max_us, us)

    def percentile(self, pct: float) -> float:
        """The latency (µs) below which ``pct`` percent of the recorded ones fall."""
        if not self.total:
            return 0.0
        rank = max(1, math.ceil(pct / 100 * self.total))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return math.exp((bucket + 0.5) * LOG_STEP)
        return self.max_us


@dataclass
class Stats:
    """What the workers observed: latencies of completed requests and error counts."""

    hist: Histogram = field(default_factory=Histogram)
    status: int = 0
    read: int = 0
    timeout: int = 0
    bad_stream: int = 0


@dataclass(frozen=True)
class Target:
    """What every worker sends, and what the last SSE event of a good stream starts with
    (None: not a stream)."""

    url: str
    body: bytes
    headers: dict[str, str]
    stream_end: bytes | None = None


def last_event(data: bytes) -> bytes:
    """The last SSE event of a stream (line endings normalised, trailing blank lines dropped)."""
    return data.replace(b"\r\n", b"\n").strip().rpartition(b"\n\n")[2]


async def one_request(session: aiohttp.ClientSession, target: Target, stats: Stats) -> None:
    """Send one request, read the whole answer and record its latency and outcome."""
    start = time.perf_counter()
    try:
        async with session.post(target.url, data=target.body, headers=target.headers) as resp:
            data = await resp.read()
            status = resp.status
    except TimeoutError:
        stats.timeout += 1
        return
    except aiohttp.ClientError:
        stats.read += 1
        return
    stats.hist.add((time.perf_counter() - start) * 1e6)
    if status // 100 != 2:
        stats.status += 1
    elif target.stream_end and not last_event(data).startswith(target.stream_end):
        stats.bad_stream += 1


async def worker(
    session: aiohttp.ClientSession, target: Target, deadline: float, stats: Stats
) -> None:
    """Issue requests back to back on one keep-alive connection until the deadline."""
    while time.perf_counter() < deadline:
        await one_request(session, target, stats)


async def load(target: Target, connections: int, duration: float) -> dict[str, float]:
    """Run the load and return the summary run.py expects."""
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + duration
        await asyncio.gather(
            *(worker(session, target, deadline, stats) for _ in range(connections))
        )
        elapsed = time.perf_counter() - start
    return summary(stats, elapsed)


def summary(stats: Stats, elapsed: float) -> dict[str, float]:
    """The JSON result line, in the same shape as run.py's wrk Lua ``done`` output."""
    hist = stats.hist
    return {
        "requests": hist.total,
        "duration_us": elapsed * 1e6,
        "p50_us": hist.percentile(50),
        "p99_us": hist.percentile(99),
        "mean_us": hist.sum_us / hist.total if hist.total else 0.0,
        "max_us": hist.max_us,
        "connect": 0,
        "read": stats.read + stats.bad_stream,
        "write": 0,
        "status": stats.status,
        "timeout": stats.timeout,
    }


def parse_headers(raw: list[str]) -> dict[str, str]:
    """``['K: V', ...]`` as a dict."""
    pairs = (item.split(":", 1) for item in raw)
    return {key.strip(): value.strip() for key, value in pairs}


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (as the servers do), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    """Command-line entry point: run the load, print the JSON summary line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--stream-end", help="what the last SSE event of a good answer starts with")
    args = parser.parse_args()
    target = Target(
        args.url,
        args.body_file.read_bytes(),
        parse_headers(args.header),
        args.stream_end.encode() if args.stream_end else None,
    )
    result = run_async(load(target, args.connections, args.duration))
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
