"""A real nginx for the ingest tests: the docs' redirect front, plus client-address injectors.

The front proxies index pages from the upstream and answers files with a 302, logging `combined`
and the docs' JSON `log_format` (read from docs/ingest.md, so the docs stay what is tested). Loopback
clients all come from 127.0.0.1, so each simulated client reaches its target (the front, or a
gateway that trusts this proxy) through its own injector port, which sets X-Forwarded-For to that
client's address; the front's realip module logs it as `$remote_addr`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from tests.e2e.upstreams import free_port, wait_http

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"


def docs_log_format() -> str:
    """The `log_format pkgate ...;` directive exactly as docs/ingest.md gives it."""
    m = re.search(r"^log_format pkgate .*?';$", DOCS.read_text(), re.S | re.M)
    assert m is not None, "docs/ingest.md lost its log_format snippet"
    return m.group(0)


class Nginx:
    def __init__(self, root: Path, upstream_port: int, clients: list[str], gateway_port: int) -> None:
        if shutil.which("nginx") is None:
            raise RuntimeError("nginx not installed (scripts/setup installs nginx-light)")
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        self.front_port = free_port()
        self.to_front = {ip: free_port() for ip in clients}
        self.to_gateway = {ip: free_port() for ip in clients}
        self.combined = root / "access.log"
        self.json = root / "access.json"
        user = "user root root;" if os.geteuid() == 0 else ""
        injectors = "".join(
            f"""
    server {{
        listen 127.0.0.1:{port};
        access_log off;
        location / {{
            proxy_pass http://127.0.0.1:{target};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For {ip};
            proxy_redirect off;
        }}
    }}"""
            for mapping, target in ((self.to_front, self.front_port), (self.to_gateway, gateway_port))
            for ip, port in mapping.items()
        )
        temp = " ".join(
            f"{t}_temp_path {root}/tmp/{t};" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (root / "nginx.conf").write_text(
            f"""{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    {temp}
    {docs_log_format()}
{injectors}
    server {{
        listen 127.0.0.1:{self.front_port};
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        access_log {self.combined} combined;
        access_log {self.json} pkgate;
        location /simple/ {{
            proxy_pass http://127.0.0.1:{upstream_port};
        }}
        location /files/ {{
            return 302 http://127.0.0.1:{upstream_port}$request_uri;
        }}
    }}
}}
"""
        )
        self._stderr = (root / "stderr.log").open("wb")
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(root), "-c", str(root / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        try:
            wait_http(f"http://127.0.0.1:{self.front_port}/simple/")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"nginx did not start: {(root / 'stderr.log').read_text()}") from None

    def front_url(self, ip: str) -> str:
        return f"http://127.0.0.1:{self.to_front[ip]}/simple/"

    def gateway_url(self, ip: str) -> str:
        return f"http://127.0.0.1:{self.to_gateway[ip]}/simple/"

    def stop(self) -> None:
        """Graceful quit: nginx flushes and closes its logs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
