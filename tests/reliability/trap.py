"""A listening trap on another loopback address: any connection to it is an SSRF finding."""

from __future__ import annotations

import socket
import threading


class Trap:
    """Accepts (and counts) TCP connections on `host`, on a random port and, when free, 80 and 443."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.host = host
        self.connections: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        for port in (0, 80, 443):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                if port == 0:
                    raise
                continue
            sock.listen(64)
            self._socks.append(sock)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        self.port = int(self._socks[0].getsockname()[1])
        self.ports = [int(s.getsockname()[1]) for s in self._socks]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append((int(sock.getsockname()[1]), str(peer[0])))
            conn.close()

    def count(self) -> int:
        with self._lock:
            return len(self.connections)

    def close(self) -> None:
        for sock in self._socks:
            sock.close()
