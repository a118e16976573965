"""Local proxy servers for tests: HTTP CONNECT and SOCKS5, recording what they tunnel to."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import struct
from abc import ABC, abstractmethod


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def _tunnel(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
) -> None:
    up_reader, up_writer = await asyncio.open_connection(host, port)
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


class RecordingProxy(ABC):
    """A proxy server recording the targets it tunnels to (``host:port``) and the users."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username, self.password = username, password
        self.tunnels: list[str] = []
        self.users: list[str | None] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    @abstractmethod
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection: the handshake, then the tunnel."""


class ConnectProxy(RecordingProxy):
    """HTTP CONNECT, with ``Proxy-Authorization: Basic`` when a username is set."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, target, _ = head.split("\r\n")[0].split(" ")
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        user = None
        if self.username is not None:
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if headers.get("Proxy-Authorization") != f"Basic {expected}":
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
                writer.close()
                return
            user = self.username
        assert method == "CONNECT"
        host, port = target.rsplit(":", 1)
        self.tunnels.append(target)
        self.users.append(user)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _tunnel(reader, writer, host, int(port))


class Socks5Proxy(RecordingProxy):
    """SOCKS5 CONNECT (RFC 1928), with username/password auth (RFC 1929) when set."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        user = None
        if self.username is not None:
            assert 2 in methods
            writer.write(b"\x05\x02")
            _, length = await reader.readexactly(2)
            name = (await reader.readexactly(length)).decode()
            (length,) = await reader.readexactly(1)
            secret = (await reader.readexactly(length)).decode()
            ok = (name, secret) == (self.username, self.password)
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                writer.close()
                return
            user = name
        else:
            writer.write(b"\x05\x00")
        _version, _cmd, _rsv, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            (length,) = await reader.readexactly(1)
            host = (await reader.readexactly(length)).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.tunnels.append(f"{host}:{port}")
        self.users.append(user)
        writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
        await writer.drain()
        await _tunnel(reader, writer, host, port)
