"""Request logs: each upstream exchange's bodies, redacted, in rotating JSONL files.

With ``ENABLE_REQUEST_LOGS=true`` a middleware (the innermost, so it sees exactly what goes to
the wire) records every upstream attempt: the body sent, the answer received (a stream's raw
events), status, provider, connection, model and the request id that joins it to the ledger.
Failover attempts are logged too, one line each.

Why rotating JSONL segments rather than a file per request: one append per batch is cheap, a
file per request would mean a create, a write and a close per request and many thousands of
small files to scan for retention, and whole segments can be deleted when they age out.
Segments are named ``requests-<UTC start>.jsonl`` in ``DATA_DIR/logs/``, created 0600 (they
hold prompts), and rotate at the UTC day or at ``SEGMENT_BYTES``.

Nothing here runs on the request's path but a bounded, non-blocking queue put and, for streams,
keeping the first bytes of each chunk: redaction, serialisation and disk writes happen on a
worker thread, and a full queue drops entries (counted, logged) rather than slowing requests.
Credentials are removed before anything is written: the connection's key and every key-shaped
string (:func:`omniroute.accounts.vault.redact`), and the values of body fields whose names say
they hold a credential. Request headers, where credentials travel, are not logged at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from omniroute.accounts.vault import Secret, mask, redact
from omniroute.extensions import Attempt, CallNext, Middleware, UpstreamResponse

if TYPE_CHECKING:
    from omniroute.settings import Settings

log = logging.getLogger(__name__)

SEGMENT_BYTES = 16 * 1024 * 1024
PREFIX = "requests-"
SUFFIX = ".jsonl"
#: Body fields whose values are credentials, whatever the API.
_SENSITIVE = re.compile(
    r"(?i)^(authorization|proxy-authorization|x-api-key|x-goog-api-key|api[-_]?key|"
    r"access[-_]?token|refresh[-_]?token|id[-_]?token|token|secret|client[-_]?secret|password)$"
)


def scrub(value: Any) -> Any:
    """``value`` with every credential-named field's string value masked (recursively)."""
    if isinstance(value, dict):
        return {
            k: (mask(v) if isinstance(v, str) and _SENSITIVE.match(str(k)) else scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


class Capture:
    """The first ``limit`` bytes of a body, and whether there was more."""

    __slots__ = ("data", "limit", "truncated")

    def __init__(self, limit: int) -> None:
        self.data = bytearray()
        self.limit = limit
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        """Keep what fits."""
        room = self.limit - len(self.data)
        if len(chunk) > room:
            self.truncated = True
            chunk = chunk[: max(room, 0)]
        self.data += chunk


class LoggedResponse(UpstreamResponse):
    """An upstream answer that copies what is read of it into a log entry, submitted once when
    the body has been read, the stream has ended, or the response is closed."""

    def __init__(self, inner: UpstreamResponse, on_done: Callable[[Capture], None], limit: int):
        super().__init__(inner.status, inner.headers)
        self._inner = inner
        self._capture = Capture(limit)
        self._on_done: Callable[[Capture], None] | None = on_done

    def _done(self) -> None:
        if self._on_done is not None:
            on_done, self._on_done = self._on_done, None
            on_done(self._capture)

    async def read(self) -> bytes:
        """The whole body (kept for the log up to the limit)."""
        body = await self._inner.read()
        self._capture.add(body)
        self._done()
        return body

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, copied up to the limit."""
        try:
            async for chunk in self._inner.chunks():
                if not self._capture.truncated:
                    self._capture.add(chunk)
                yield chunk
        finally:
            self._done()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Register on the wrapped response, which owns the connection."""
        self._inner.on_close(callback)

    def close(self) -> None:
        """Close the wrapped response, and log what was read."""
        self._inner.close()
        self._done()


class RequestLog:
    """The queue, the writer task and the files; ``middleware`` is what the gateway wraps
    around every upstream attempt."""

    def __init__(
        self,
        directory: Path,
        *,
        max_body_bytes: int,
        retention_days: float,
        max_total_bytes: int,
        queue_size: int = 10_000,
        sweep_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.max_body_bytes = max_body_bytes
        self.retention_seconds = retention_days * 86400
        self.max_total_bytes = max_total_bytes
        self.sweep_seconds = sweep_seconds
        self.clock = clock
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._segment: Path | None = None
        self.dropped = 0
        self.middleware = Middleware("request-logs", self._handle, order=10_000)

    # -- the request path ---------------------------------------------------------------------

    async def _handle(self, attempt: Attempt, call_next: CallNext) -> UpstreamResponse:
        started = self.clock()
        resp = await call_next(attempt)

        def submit(capture: Capture) -> None:
            self.submit(
                {
                    "ts": started,
                    "attempt": attempt,
                    "status": resp.status,
                    "response": bytes(capture.data),
                    "truncated": capture.truncated,
                }
            )

        return LoggedResponse(resp, submit, self.max_body_bytes)

    def submit(self, entry: dict[str, Any]) -> None:
        """Queue one entry without waiting; a full queue drops it."""
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("request log queue full: %d entries dropped so far", self.dropped)

    # -- the writer -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer and the periodic retention sweep."""
        self._tasks = [
            asyncio.create_task(self._run(), name="omniroute-request-log"),
            asyncio.create_task(self._sweep_periodically(), name="omniroute-request-log-sweep"),
        ]

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            async with self._lock:
                await asyncio.to_thread(self._write, [first, *self._take_queued()])

    def _take_queued(self) -> list[dict[str, Any]]:
        return [self._queue.get_nowait() for _ in range(self._queue.qsize())]

    async def flush(self) -> None:
        """Write everything queued so far."""
        async with self._lock:
            batch = self._take_queued()
            if batch:
                await asyncio.to_thread(self._write, batch)

    async def _sweep_periodically(self) -> None:
        while True:  # at start (files left by an earlier run), then every sweep_seconds
            try:
                await self.sweep()
            except OSError:
                log.exception("request log retention sweep failed")
            await asyncio.sleep(self.sweep_seconds)

    async def sweep(self) -> list[Path]:
        """Apply retention now; the files removed."""
        async with self._lock:
            return await asyncio.to_thread(self._apply_retention)

    async def close(self) -> None:
        """Stop the tasks (never mid-write) and write what is still queued."""
        async with self._lock:
            for task in self._tasks:
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    # -- on the worker thread -------------------------------------------------------------------

    def _write(self, batch: list[dict[str, Any]]) -> None:
        lines = b"".join(self._line(entry) for entry in batch)
        path = self._current_segment(len(lines))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as f:
            f.write(lines)

    def _line(self, entry: dict[str, Any]) -> bytes:
        attempt: Attempt = entry["attempt"]
        request = orjson.dumps(scrub(attempt.body))
        request_truncated = len(request) > self.max_body_bytes
        response: Any = entry["response"].decode("utf-8", "replace")
        if not attempt.stream and not entry["truncated"]:
            with contextlib.suppress(orjson.JSONDecodeError):
                response = scrub(orjson.loads(entry["response"]))
        record = {
            "time": datetime.fromtimestamp(entry["ts"], UTC).isoformat(timespec="milliseconds"),
            "requestId": attempt.request_id,
            "endpoint": attempt.endpoint.value,
            "provider": attempt.provider.id,
            "connectionId": attempt.connection.id,
            "model": attempt.model,
            "keyId": attempt.client_key_id,
            "stream": attempt.stream,
            "url": attempt.url,
            "status": entry["status"],
            "request": (
                request[: self.max_body_bytes].decode("utf-8", "replace")
                if request_truncated
                else orjson.Fragment(request)
            ),
            "requestTruncated": request_truncated,
            "response": response,
            "responseTruncated": entry["truncated"],
        }
        secret: Secret = attempt.connection.api_key
        return redact(orjson.dumps(record).decode(), secret).encode() + b"\n"

    def _current_segment(self, incoming: int) -> Path:
        now = self.clock()
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        segment = self._segment
        if (
            segment is None
            or not segment.name.startswith(PREFIX + day)
            or (segment.exists() and segment.stat().st_size + incoming > SEGMENT_BYTES)
        ):
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            segment = self.directory / f"{PREFIX}{stamp}{SUFFIX}"
            self._segment = segment
        return segment

    def segments(self) -> list[Path]:
        """The log files, oldest first (their names sort by start time)."""
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob(f"{PREFIX}*{SUFFIX}"))

    def _apply_retention(self) -> list[Path]:
        """Delete segments last written before the retention age, then the oldest until the
        total fits the size limit (the segment being written is deleted last of all)."""
        removed: list[Path] = []
        cutoff = self.clock() - self.retention_seconds
        sizes: dict[Path, int] = {}
        for path in self.segments():
            stat = path.stat()
            if stat.st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(path)
            else:
                sizes[path] = stat.st_size
        total = sum(sizes.values())
        for path in sizes:
            if total <= self.max_total_bytes:
                break
            path.unlink(missing_ok=True)
            removed.append(path)
            total -= sizes[path]
        if self._segment in removed:
            self._segment = None
        return removed


def open_request_log(settings: Settings) -> RequestLog | None:
    """The request log the settings ask for, started; ``None`` when logging is off."""
    if not settings.enable_request_logs:
        return None
    request_log = RequestLog(
        settings.logs_dir,
        max_body_bytes=settings.request_log_max_body_bytes,
        retention_days=settings.request_log_retention_days,
        max_total_bytes=int(settings.request_log_max_mb * 1024 * 1024),
    )
    request_log.start()
    return request_log
