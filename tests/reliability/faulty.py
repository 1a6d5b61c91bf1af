"""A misbehaving upstream index: each project page can be switched to a fault at run time.

Raw asyncio server on its own thread (a library server would not misbehave on request). Modes:
`good` (a valid PEP 691 page), `hang` (reads the request, never answers), `reset` (TCP RST),
`drip` (valid headers, then one body byte every `drip_interval` seconds, for ever), `garbage-html`,
`garbage-json`, `huge` (a 200 OK of `huge_bytes` bytes), `loop` (a redirect to itself), `500`.
Optionally TLS with any certificate (for the wrong-certificate upstream).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
import struct
import threading
from typing import Final

JSON: Final = "application/vnd.pypi.simple.v1+json"
MODES: Final = ("good", "hang", "reset", "drip", "garbage-html", "garbage-json", "huge", "loop", "500")


def good_page(name: str) -> bytes:
    filename = f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
    return json.dumps(
        {
            "meta": {"api-version": "1.1"},
            "name": name,
            "versions": ["1.0"],
            "files": [
                {
                    "filename": filename,
                    "url": f"https://files.example/{filename}",
                    "hashes": {"sha256": "0" * 64},
                    "size": 1,
                }
            ],
        }
    ).encode()


class FaultyUpstream:
    def __init__(
        self, tls: ssl.SSLContext | None = None, drip_interval: float = 0.3, huge_bytes: int = 200 << 20
    ):
        self.modes: dict[str, str] = {}
        self.default_mode = "good"
        self.drip_interval = drip_interval
        self.huge_bytes = huge_bytes
        self.tls = tls
        self.requests = 0
        self.huge_sent = 0  # body bytes written for `huge` pages (the gateway should stop reading)
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)

    @property
    def simple_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/simple/"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        )
        self.port = int(self.server.sockets[0].getsockname()[1])
        self._started.set()
        self.loop.run_forever()

    def set_mode(self, project: str, mode: str) -> None:
        assert mode in MODES, mode
        self.modes[project] = mode

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(close(), self.loop)
        self._thread.join(10)
        self.loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                path = head.split(b" ", 2)[1].decode("latin-1")
                if not await self._answer(path, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection must end."""
        name = path.removeprefix("/simple/").strip("/")
        mode = self.modes.get(name, self.default_mode)
        if name == "":
            root = {"meta": {"api-version": "1.1"}, "projects": [{"name": n} for n in self.modes]}
            body = json.dumps(root).encode()
            self._head(writer, 200, JSON, len(body))
            writer.write(body)
        elif mode == "good":
            body = good_page(name)
            self._head(writer, 200, JSON, len(body))
            writer.write(body)
        elif mode == "hang":
            await asyncio.sleep(3600)
        elif mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        elif mode == "drip":
            self._head(writer, 200, JSON, 10_000_000)
            writer.write(b'{"meta": ')
            while True:
                await writer.drain()
                await asyncio.sleep(self.drip_interval)
                writer.write(b" ")
        elif mode == "garbage-html":
            rng = random.Random(path)
            body = b"<html><a href=" + bytes(rng.randrange(256) for _ in range(20_000)) + b"<a<a<a<!--" * 2000
            self._head(writer, 200, "text/html", len(body))
            writer.write(body)
        elif mode == "garbage-json":
            body = b'{"meta": {"api-version": "1.1"}, "files": [{"filename": 7, "url": ' + b"[" * 50_000
            self._head(writer, 200, JSON, len(body))
            writer.write(body)
        elif mode == "huge":
            self._head(writer, 200, JSON, self.huge_bytes)
            chunk = b" " * (1 << 20)
            sent = 0
            while sent < self.huge_bytes:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
                self.huge_sent += len(chunk)
        elif mode == "loop":
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\n\r\n".encode())
        else:
            self._head(writer, 500, "text/plain", 6)
            writer.write(b"oops!\n")
        await writer.drain()
        return True

    @staticmethod
    def _head(writer: asyncio.StreamWriter, status: int, ctype: str, length: int) -> None:
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n".encode()
        )
