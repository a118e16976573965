"""Incremental splitting of a Server-Sent Events byte stream into complete events."""

from __future__ import annotations


class SSEScanner:
    """Feed bytes as they arrive; get back the events completed so far.

    Each event comes back as ``(raw, data)``: ``raw`` is the event re-framed with ``\\n`` line
    endings and a terminating blank line (so it can be relayed as is), ``data`` the joined
    ``data:`` payload, or None for an event without data (a comment such as ``: ping``).
    Chunks may be split anywhere, including between ``\\r`` and ``\\n``; LF, CR and CRLF line
    endings are all accepted, as the SSE specification requires.
    """

    __slots__ = ("_buffer", "_skip_lf")

    def __init__(self) -> None:
        self._buffer = b""
        self._skip_lf = False

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet terminated by a blank line."""
        return self._buffer

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes | None]]:
        """Add ``chunk``; return the events it completed, in order."""
        return split_events(self.feed_block(chunk))

    def feed_data(self, chunk: bytes) -> list[bytes]:
        """Add ``chunk``; return the ``data`` payloads of the events it completed (for
        decoders that need nothing else of an event)."""
        block = self.feed_block(chunk)
        return block_data(block) if block else []

    def feed_block(self, chunk: bytes) -> bytes:
        """Add ``chunk``; return the events it completed as one block of bytes (LF line endings,
        each event ending in a blank line), or ``b""``. Relays use this to pass events on without
        splitting them one by one."""
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        data = self._buffer + chunk if self._buffer else chunk
        if b"\r" in data:
            # A trailing CR ends a line now; if the next chunk starts with LF, that LF is the
            # second half of the same CRLF and is dropped.
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n\n")
        if end < 0:
            self._buffer = data
            return b""
        self._buffer = data[end + 2 :]
        return data[: end + 2]


def split_events(block: bytes) -> list[tuple[bytes, bytes | None]]:
    """The events of a block returned by :meth:`SSEScanner.feed_block`, as ``(raw, data)``."""
    events = []
    for part in block.split(b"\n\n"):
        part = part.lstrip(b"\n")
        if part:
            events.append((part + b"\n\n", event_data(part)))
    return events


def block_data(block: bytes) -> list[bytes]:
    """The ``data`` payloads of a block's events, skipping events without data (comments)."""
    parts = block.split(b"\n\n")
    events = parts[:-1] if block.endswith(b"\n\n") else parts
    # The common block, a run of one-line "data: " events, needs no per-event parsing: each
    # event accounts for exactly two of the block's newlines.
    if block.count(b"\n") == 2 * len(events) and all(e.startswith(b"data: ") for e in events):
        return [event[6:] for event in events]
    payloads = []
    for part in parts:
        part = part.lstrip(b"\n")
        if part and (data := event_data(part)) is not None:
            payloads.append(data)
    return payloads


def event_data(event: bytes) -> bytes | None:
    """The ``data`` payload of one event (lines joined by ``\\n``), or None if it has none."""
    if event.startswith(b"data:") and b"\n" not in event:
        value = event[5:]
        return value[1:] if value.startswith(b" ") else value
    lines = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            lines.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(lines) if lines else None
