"""Start-up failures of a real `pkgate serve`: one `pkgate: error: <cause> (<setting>)` line, exit 2.

Each test makes the machine refuse one thing for real: a port held by a listening socket, a low
port for an unprivileged user (`setpriv` to `nobody`), a read-only or full filesystem (a tmpfs
mounted in a private mount namespace, `unshare -m`), files owned by another user, a data
directory locked by a running gateway. Nothing is mocked; stderr must be exactly that one line.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.upstreams import free_port
from tests.support.process import BIN, clean_env, start_pkgate, wait_healthy

pytestmark = pytest.mark.e2e

NOBODY = pwd.getpwnam("nobody")
AS_NOBODY = ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups", "--"]
#: `sh -c` that mounts a 1 MiB tmpfs (options in $0) on the directory $1, then runs the rest.
IN_TMPFS = 'mount -t tmpfs -o "$0" tmpfs "$1" || exit 99; {fill}shift; exec "$@"'


def write_config(where: Path, data_dir: Path, port: int | None = None, extra: str = "") -> Path:
    cfg = where / "pkgate.toml"
    cfg.write_text(
        f"[server]\nport = {port if port is not None else free_port()}\nworkers = 1\n"
        '[gateway]\ndefault_upstream = "up"\n'
        '[upstreams.up]\nurl = "http://127.0.0.1:9/simple/"\n'
        f'[storage]\ndata_dir = "{data_dir}"\n{extra}'
    )
    cfg.chmod(0o644)
    return cfg


def serve_fails(config: Path, prefix: list[str] | None = None) -> str:
    """Run `pkgate serve`; it must exit 2 with exactly one error line on stderr (returned)."""
    proc = subprocess.Popen(
        [*(prefix or []), str(BIN / "pkgate"), "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        start_new_session=True,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:  # it started serving: the check is missing
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"pkgate serve did not fail; stderr:\n{err}")
    assert "Traceback" not in err + out
    assert proc.returncode == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pkgate: error: ")
    return lines[0]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory `nobody` can reach (pytest's tmp_path is private to root)."""
    d = Path(tempfile.mkdtemp(prefix="pkgate-startup-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def owned_by_nobody(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    path.chmod(mode)
    return path


def root_only_file(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chown(path, 0, 0)
    path.chmod(0o600)
    return path


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = serve_fails(write_config(tmp_path, tmp_path / "data", port))
    assert line == f"pkgate: error: port {port} on 127.0.0.1 is already in use (server.port)"


def test_low_port_needs_privileges(shared: Path) -> None:
    unprivileged = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    assert unprivileged > 1, "this machine lets anyone listen on any port: nothing to test"
    port = next(p for p in range(min(unprivileged, 1024) - 1, 0, -1) if _free(p))
    data = owned_by_nobody(shared / "data")
    line = serve_fails(write_config(shared, data, port), AS_NOBODY)
    assert line == (
        f"pkgate: error: no permission to listen on port {port} "
        f"(ports below {unprivileged} need root or CAP_NET_BIND_SERVICE) (server.port)"
    )


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_impossible_data_dir(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    data = tmp_path / "a-file" / "data"
    line = serve_fails(write_config(tmp_path, data))
    assert line == f"pkgate: error: cannot create data directory {data}: Not a directory (storage.data_dir)"


def test_data_dir_is_a_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("")
    line = serve_fails(write_config(tmp_path, data))
    assert line == f"pkgate: error: data directory {data} is not a directory (storage.data_dir)"


def test_data_dir_not_creatable_by_this_user(shared: Path) -> None:
    data = shared / "data"  # `shared` is root's, 0755
    line = serve_fails(write_config(shared, data), AS_NOBODY)
    assert line == f"pkgate: error: cannot create data directory {data}: Permission denied (storage.data_dir)"
    assert not data.exists()


def test_data_dir_without_write_permission(shared: Path) -> None:
    data = owned_by_nobody(shared / "data", 0o555)
    line = serve_fails(write_config(shared, data), AS_NOBODY)
    assert (
        line == f"pkgate: error: data directory {data} is not writable: Permission denied (storage.data_dir)"
    )


def test_read_only_filesystem(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = write_config(tmp_path, data)
    mount = ["unshare", "-m", "--propagation", "private", "sh", "-c", IN_TMPFS.format(fill=""), "ro,size=1m"]
    line = serve_fails(config, [*mount, str(data)])
    assert (
        line
        == f"pkgate: error: data directory {data} is not writable: Read-only file system (storage.data_dir)"
    )


def test_disk_full_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = write_config(tmp_path, data)
    fill = 'dd if=/dev/zero of="$1/fill" bs=64k 2>/dev/null; '  # fails once the tmpfs is full
    mount = ["unshare", "-m", "--propagation", "private", "sh", "-c", IN_TMPFS.format(fill=fill), "size=1m"]
    line = serve_fails(config, [*mount, str(data)])
    assert line == f"pkgate: error: no space left in data directory {data} (storage.data_dir)"


def test_data_dir_locked_by_a_running_gateway(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    log = tmp_path / "first.log"
    first = start_pkgate(
        ["serve", "--config", str(write_config(tmp_path, data, port))], log, new_session=True
    )
    try:
        wait_healthy(port, first, log)
        second = tmp_path / "second"
        second.mkdir()
        line = serve_fails(write_config(second, data))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGTERM)
        first.wait(60)
    assert line == (
        f"pkgate: error: data directory {data} is in use by another pkgate process (pid {first.pid})"
        " (storage.data_dir)"
    )


def test_unreadable_secret(shared: Path) -> None:
    data = owned_by_nobody(shared / "data")
    secret = root_only_file(data / "secret", "x" * 43)
    line = serve_fails(write_config(shared, data), AS_NOBODY)
    assert (
        line == f"pkgate: error: cannot read link-signing secret {secret}: Permission denied (gateway.secret)"
    )


def test_truncated_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret").write_text("")
    line = serve_fails(write_config(tmp_path, data))
    assert line == (
        f"pkgate: error: link-signing secret {data / 'secret'} is shorter than 16 characters"
        " (delete it to generate a new one) (gateway.secret)"
    )


def test_unreadable_source_id_key(shared: Path) -> None:
    data = owned_by_nobody(shared / "data")
    keys = owned_by_nobody(data / "keys")
    key = root_only_file(keys / "2026-12-02.key", "k" * 32)
    line = serve_fails(write_config(shared, data), AS_NOBODY)
    assert line == f"pkgate: error: cannot read source-id key {key}: Permission denied (storage.data_dir)"


def test_unreadable_asn_database(shared: Path) -> None:
    data = owned_by_nobody(shared / "data")
    db = root_only_file(shared / "asn.mmdb", "not readable by nobody")
    config = write_config(shared, data, extra=f'[privacy]\nasn_db = "{db}"\n')
    line = serve_fails(config, AS_NOBODY)
    assert line.startswith(f"pkgate: error: {config}: privacy.asn_db: {db} ")
    assert "Permission denied" in line


def test_bad_config_value_is_one_line_too(tmp_path: Path) -> None:
    config = write_config(tmp_path, tmp_path / "data", extra="segment_bytes = 1\n")
    line = serve_fails(config)
    assert line == f"pkgate: error: {config}: storage.segment_bytes: must be at least 4096 bytes, got 1"


def test_workers_run_the_file_named_by_pkgate_config(tmp_path: Path) -> None:
    """`PKGATE_CONFIG=file pkgate serve` (no --config): the workers must run that file, not defaults."""
    import httpx

    port = free_port()
    config = write_config(tmp_path, tmp_path / "data", port, extra="")
    config.write_text(config.read_text().replace('default_upstream = "up"', 'default_upstream = ""'))
    log = tmp_path / "serve.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(BIN / "pkgate"), "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**clean_env(), "PKGATE_CONFIG": str(config)},
            start_new_session=True,
        )
    try:
        wait_healthy(port, proc, log)
        # The file routes no project anywhere: 404. Built-in defaults would send it to pypi.org.
        assert httpx.get(f"http://127.0.0.1:{port}/simple/six/", timeout=30).status_code == 404
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
