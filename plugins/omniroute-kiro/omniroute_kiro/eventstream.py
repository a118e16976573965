"""The AWS event-stream framing (``application/vnd.amazon.eventstream``), read incrementally.

A message is::

    total length (uint32 BE) | headers length (uint32 BE) | prelude CRC32 (uint32 BE)
    headers: name length (uint8), name, value type (uint8), value ...
    payload
    message CRC32 (uint32 BE, over everything before it)

Header values are typed: 0/1 bool true/false (no bytes), 2 byte, 3 short, 4 int, 5 long,
6 byte array and 7 string (uint16 BE length + bytes), 8 timestamp (int64 ms), 9 UUID (16
bytes). CodeWhisperer uses strings: ``:message-type`` (``event``, ``exception``, ``error``),
``:event-type``, ``:exception-type``, ``:content-type``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

PRELUDE = 12
#: A message is at least the prelude and the message CRC.
MIN_MESSAGE = PRELUDE + 4
#: AWS caps a message at 16 MiB; a bigger length means the stream lost its framing.
MAX_MESSAGE = 16 * 1024 * 1024

_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


class FrameError(ValueError):
    """The bytes are not a valid event-stream message (bad CRC, impossible lengths)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded event-stream message: its headers and its raw payload."""

    headers: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""

    @property
    def message_type(self) -> str:
        """``event``, ``exception`` or ``error`` (``event`` when the header is missing)."""
        return str(self.headers.get(":message-type") or "event")

    @property
    def event_type(self) -> str:
        """The ``:event-type`` header (``assistantResponseEvent``, ...), or ``""``."""
        return str(self.headers.get(":event-type") or "")


class MessageReader:
    """Bytes split anywhere → whole :class:`Message` objects, both CRCs verified.

    ``push`` buffers bytes; ``pop`` returns the next complete message (``None`` until one is
    complete) and raises :class:`FrameError` on a corrupt one, after which the reader is
    unusable: framing cannot be recovered once a length is not to be trusted.
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """How many bytes of an incomplete message are buffered."""
        return len(self._buffer)

    def push(self, chunk: bytes) -> None:
        """Add bytes."""
        self._buffer += chunk

    def pop(self) -> Message | None:
        """The next complete message, or ``None`` when more bytes are needed."""
        if len(self._buffer) < PRELUDE:
            return None
        total, headers_length, prelude_crc = struct.unpack_from(">III", self._buffer)
        if zlib.crc32(self._buffer[:8]) != prelude_crc:
            raise FrameError("event-stream prelude CRC mismatch")
        if total < MIN_MESSAGE or total > MAX_MESSAGE or headers_length > total - MIN_MESSAGE:
            raise FrameError(f"event-stream message length {total} is not possible")
        if len(self._buffer) < total:
            return None
        frame = bytes(self._buffer[:total])
        del self._buffer[:total]
        (message_crc,) = struct.unpack_from(">I", frame, total - 4)
        if zlib.crc32(frame[: total - 4]) != message_crc:
            raise FrameError("event-stream message CRC mismatch")
        headers = parse_headers(frame[PRELUDE : PRELUDE + headers_length])
        return Message(headers, frame[PRELUDE + headers_length : total - 4])


def parse_headers(data: bytes) -> dict[str, Any]:
    """The typed headers of one message."""
    headers: dict[str, Any] = {}
    pos = 0
    try:
        while pos < len(data):
            name_length = data[pos]
            name = data[pos + 1 : pos + 1 + name_length].decode("utf-8")
            pos += 1 + name_length
            kind = data[pos]
            pos += 1
            value: Any
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fmt = _FIXED[kind]
                (value,) = struct.unpack_from(fmt, data, pos)
                pos += struct.calcsize(fmt)
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, pos)
                raw = data[pos + 2 : pos + 2 + length]
                if len(raw) != length:
                    raise FrameError("event-stream header value runs past its headers")
                value = raw.decode("utf-8") if kind == 7 else bytes(raw)
                pos += 2 + length
            elif kind == 9:
                value = data[pos : pos + 16].hex()
                pos += 16
            else:
                raise FrameError(f"event-stream header '{name}' has unknown type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise FrameError(f"event-stream headers are malformed: {exc}") from None
    return headers


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string headers (what an error event for this format needs)."""
    head = b"".join(
        bytes([len(n.encode())])
        + n.encode()
        + b"\x07"
        + struct.pack(">H", len(v.encode()))
        + v.encode()
        for n, v in headers.items()
    )
    total = MIN_MESSAGE + len(head) + len(payload)
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))
