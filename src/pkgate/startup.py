"""Start-up checks for `pkgate serve`: each failure becomes one `<cause> (<setting>)` line.

Without them a port in use ends in granian's Rust panic and a wall of traceback, and an unwritable
`storage.data_dir` in an `OSError` deep in the spool. Everything the gateway needs from the
machine is tried here first, in the order a new user meets it, before any worker starts: the data
directory (created, writable, not full, not locked by another gateway), the files in it that the
gateway reads (link-signing secret, source-id keys) and the listening address.

What is checked can still change before the server binds (a port taken in the meantime); those
rare races end in the server's own error, not in a wrong answer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from pkgate.config import Config
from pkgate.errors import StartupError

#: Less free space than this in the data directory at start is "disk full": the spool could not
#: take even one segment's worth of events, and every request would be answered 503.
MIN_FREE_BYTES = 1 << 20


def check(cfg: Config) -> None:
    """Raise StartupError for the first thing that would stop `pkgate serve`; return if none."""
    check_data_dir(cfg)
    lock_data_dir(cfg).close()  # free now; `serve` takes it for good
    check_readable_files(cfg)
    check_listen(cfg.server.host, cfg.server.port)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_data_dir(cfg: Config) -> None:
    """The data directory exists (created if missing), is a writable directory and is not full."""
    root = cfg.paths.root
    setting = "storage.data_dir"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StartupError(f"data directory {root} is not a directory", setting) from None
    except OSError as exc:
        raise StartupError(f"cannot create data directory {root}: {_why(exc)}", setting) from None
    if not root.is_dir():
        raise StartupError(f"data directory {root} is not a directory", setting)
    probe = root / f".probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * 4096)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StartupError(f"no space left in data directory {root}", setting) from None
        raise StartupError(f"data directory {root} is not writable: {_why(exc)}", setting) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    st = os.statvfs(root)
    free = st.f_bavail * st.f_frsize
    if free < MIN_FREE_BYTES:
        raise StartupError(
            f"no space left in data directory {root}: {free} bytes free, {MIN_FREE_BYTES} needed", setting
        )


def lock_data_dir(cfg: Config) -> IO[bytes]:
    """Exclusive lock so two gateways never share a spool and a store by accident.

    The holder's pid is written into the lock file, so the error can say who holds it.
    """
    setting = "storage.data_dir"
    path = cfg.paths.lock
    try:
        cfg.paths.root.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+b")  # noqa: SIM115 - held for the process lifetime; a+: keep the holder's pid
    except OSError as exc:
        raise StartupError(f"cannot create lock file {path}: {_why(exc)}", setting) from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read(32).decode("ascii", "replace").strip()
        fh.close()
        who = f" (pid {holder})" if holder.isdigit() else ""
        raise StartupError(
            f"data directory {cfg.paths.root} is in use by another pkgate process{who}", setting
        ) from None
    with contextlib.suppress(OSError):  # only informative
        fh.truncate(0)
        fh.write(f"{os.getpid()}\n".encode())
        fh.flush()
    return fh


def check_readable_files(cfg: Config) -> None:
    """The files a gateway reads from its data directory can be read (an operator's `chown`, a
    restored backup with the wrong owner): a worker would otherwise fail on its first request."""
    secret = cfg.paths.secret
    if not cfg.gateway.secret and secret.exists():
        try:
            text = secret.read_bytes().strip()
        except OSError as exc:
            raise StartupError(
                f"cannot read link-signing secret {secret}: {_why(exc)}", "gateway.secret"
            ) from None
        if len(text) < 16:
            raise StartupError(
                f"link-signing secret {secret} is shorter than 16 characters (delete it to generate a new one)",
                "gateway.secret",
            )
    keys = cfg.paths.keys
    try:
        names = sorted(os.listdir(keys))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StartupError(f"cannot read source-id keys {keys}: {_why(exc)}", "storage.data_dir") from None
    for name in names:
        if not name.endswith(".key"):
            continue
        try:
            with open(keys / name, "rb") as fh:
                fh.read(64)
        except OSError as exc:
            raise StartupError(
                f"cannot read source-id key {keys / name}: {_why(exc)}", "storage.data_dir"
            ) from None


def check_listen(host: str, port: int) -> None:
    """The gateway can listen on `host:port` (port 0: any free port, nothing to check)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot resolve listen address {host!r}: {exc.strerror}", "server.host") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no conflict
        try:
            sock.bind(addr)
        except OSError as exc:
            raise _listen_error(exc, host, port) from None


def _listen_error(exc: OSError, host: str, port: int) -> StartupError:
    if exc.errno == errno.EADDRINUSE:
        return StartupError(f"port {port} on {host} is already in use", "server.port")
    if exc.errno == errno.EACCES:
        return StartupError(
            f"no permission to listen on port {port} (ports below "
            f"{_unprivileged_start()} need root or CAP_NET_BIND_SERVICE)",
            "server.port",
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return StartupError(f"cannot listen on {host}: not an address of this machine", "server.host")
    return StartupError(f"cannot listen on {host}:{port}: {_why(exc)}", "server.host")


def _unprivileged_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        return 1024
