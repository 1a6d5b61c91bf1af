"""In-process CPU cost of the OCI blob redirect against the Python file redirect, same worker.

`redirect.sh`'s `ratio_oci_vs_python` compares two servers run one after the other, which on a
shared machine moves with whatever else runs. This drives one real worker (spool, group commit,
enricher, metrics) with both: the signed Python links of `make_links.py`, and `LINKS` blob paths of
an open registry (a threaded loopback server that answers HEAD 200; each blob is asked for once,
then memoised). It prints CPU microseconds per request for each and their ratio, alternating runs.

    .venv/bin/python bench/profile_oci.py --requests 100000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec

from pkgate.config import Config, Gateway, Oci, Server, Storage, Upstream
from pkgate.edge.app import Worker
from pkgate.edge.gateway import Gateway as GatewayCore

sys.path.insert(0, str(Path(__file__).parent))
from make_links import links
from profile_redirect import PIP_UA, SECRET, Headers


class _Registry(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


async def drive(gateway: GatewayCore, paths: list[str], total: int, concurrency: int, status: int) -> float:
    headers = Headers({"user-agent": PIP_UA, "accept": "*/*", "host": "x"})
    started = time.process_time()
    for start in range(0, total, concurrency):
        batch = [
            gateway.handle("GET", paths[(start + j) % len(paths)], "", headers, "127.0.0.1")
            for j in range(min(concurrency, total - start))
        ]
        for got, _, body in await asyncio.gather(*batch):
            if got != status:
                raise SystemExit(f"expected {status}, got {got}: {body!r}")
    return time.process_time() - started


async def run(args: argparse.Namespace, data_dir: Path, registry: str) -> None:
    cfg = Config(
        server=Server(),
        gateway=Gateway(id="bench", secret=SECRET),
        upstreams={
            "pypi": Upstream(url="http://127.0.0.1:9/simple/"),
            "registry": Upstream(url=registry, ecosystem="oci"),
        },
        oci=Oci(default_upstream="registry"),
        storage=msgspec.structs.replace(Storage(), data_dir=str(data_dir)),
    )
    worker = Worker(cfg)
    gateway = await worker.start()
    python = links(SECRET, args.links, 40)
    oci = [
        f"/v2/bench/app/blobs/sha256:{hashlib.sha256(str(i).encode()).hexdigest()}" for i in range(args.links)
    ]
    try:
        await drive(gateway, python, 20_000, args.concurrency, 302)  # warm the memos
        await drive(gateway, oci, 20_000, args.concurrency, 307)
        for _ in range(args.rounds):
            py = await drive(gateway, python, args.requests, args.concurrency, 302)
            oc = await drive(gateway, oci, args.requests, args.concurrency, 307)
            per = 1e6 / args.requests
            print(
                f"python {py * per:.2f} us  oci {oc * per:.2f} us  cpu ratio oci/python {py / oc:.3f} (req per cpu-s)"
            )
    finally:
        await worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    ThreadingHTTPServer.request_queue_size = 256  # 64 concurrent first requests: no SYN backlog drops
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with tempfile.TemporaryDirectory(prefix="pkgate-profile.") as tmp:
            asyncio.run(run(args, Path(tmp), f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
