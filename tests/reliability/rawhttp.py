"""A small, fast HTTP/1.1 client over raw asyncio streams, for hostile-input and load tests.

Why not httpx: it refuses to send what a hostile client sends (bytes that are not a valid URL,
odd header values) and normalises what comes back, so a CR or LF smuggled into a response header
would be parsed away before a test could see it. Here requests are bytes as given, and answers are
checked as raw header lines. Keep-alive connections are reused; a connection the server closes
(e.g. after a 400 for a malformed request) is reopened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

MAX_HEAD: Final = 256 * 1024
MAX_BODY: Final = 64 * 1024 * 1024


@dataclass(frozen=True)
class RawRequest:
    method: str
    target: bytes  # path and query exactly as sent on the request line
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def encode(self) -> bytes:
        lines = [self.method.encode() + b" " + self.target + b" HTTP/1.1", b"Host: pkgate.test"]
        lines += [k + b": " + v for k, v in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass
class RawResponse:
    status: int
    head_lines: list[bytes]  # the header lines, split on CRLF only
    headers: list[tuple[str, str]]  # lowercased names, latin-1 values
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class ProtocolViolation(Exception):
    """The server's answer is not valid HTTP/1.1 framing (itself a finding, never ignored)."""


async def read_response(reader: asyncio.StreamReader, method: str) -> RawResponse:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEAD:
        raise ProtocolViolation(f"response head of {len(head)} bytes")
    status_line, *lines = head[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolViolation(f"bad status line {status_line[:100]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolViolation(f"header line without a colon: {line[:100]!r}")
        headers.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    status = int(parts[1])
    body = b""
    values = dict(headers)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        pass
    elif values.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    elif "content-length" in values:
        length = int(values["content-length"])
        if length > MAX_BODY:
            raise ProtocolViolation(f"content-length {length}")
        body = await reader.readexactly(length)
    else:
        body = await reader.read(MAX_BODY)  # delimited by close
    return RawResponse(status, lines, headers, body)


@dataclass
class Outcome:
    request: RawRequest
    response: RawResponse | None
    error: str | None = None


@dataclass
class Stats:
    sent: int = 0
    answered: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)


async def _connection(
    host: str,
    port: int,
    queue: asyncio.Queue[RawRequest | None],
    on_answer: Callable[[Outcome], None],
    stats: Stats,
    timeout: float,
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    while True:
        request = await queue.get()
        if request is None:
            break
        for attempt in range(2):  # a keep-alive connection the server just closed: retry once
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
                stats.reconnects += 1
            assert reader is not None
            try:
                writer.write(request.encode())
                stats.sent += 1
                response = await asyncio.wait_for(read_response(reader, request.method), timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                writer.close()
                reader = writer = None
                if attempt == 0 and isinstance(exc, asyncio.IncompleteReadError) and not exc.partial:
                    continue  # closed before answering anything: a stale keep-alive
                on_answer(Outcome(request, None, f"{type(exc).__name__}: {exc}"))
                break
            except (ProtocolViolation, asyncio.LimitOverrunError, ValueError, TimeoutError) as exc:
                writer.close()
                reader = writer = None
                on_answer(Outcome(request, None, f"{type(exc).__name__}: {exc}"))
                break
            stats.answered += 1
            on_answer(Outcome(request, response))
            if (response.header("connection") or "").lower() == "close":
                writer.close()
                reader = writer = None
            break
    if writer is not None:
        writer.close()


async def send_all(
    host: str,
    port: int,
    requests: Iterable[RawRequest],
    on_answer: Callable[[Outcome], None],
    connections: int = 32,
    timeout: float = 30.0,
) -> Stats:
    """Send every request over `connections` keep-alive connections; `on_answer` sees each outcome."""
    stats = Stats()
    queue: asyncio.Queue[RawRequest | None] = asyncio.Queue(maxsize=connections * 4)
    workers = [
        asyncio.create_task(_connection(host, port, queue, on_answer, stats, timeout))
        for _ in range(connections)
    ]
    for request in requests:
        await queue.put(request)
        if all(w.done() for w in workers):
            break
    for _ in workers:
        await queue.put(None)
    await asyncio.gather(*workers)
    return stats
