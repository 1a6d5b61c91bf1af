"""In-process cost of the gateway's file-redirect path, without an HTTP server in the way.

Builds a real worker (spool with group commit, enricher, signer, metrics) in a temp data dir and
drives `Gateway.handle` with the same signed links and pip User-Agent as redirect.sh, in batches of
`--concurrency` concurrent requests per event-loop turn (what granian does under load). Prints
microseconds per request, then optionally the top functions under cProfile. With `--loader` it then
loads the spooled events into DuckDB as the supervisor's loader does and prints events per
CPU-second of the process (DuckDB's threads included).

    .venv/bin/python bench/profile_redirect.py --requests 200000 --profile 25
    .venv/bin/python bench/profile_redirect.py --requests 200000 --loader --profile 25
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from pkgate.config import Config, Gateway, Server, Storage, Upstream
from pkgate.edge.app import Worker
from pkgate.edge.gateway import Gateway as GatewayCore
from pkgate.events.spool import seal_all
from pkgate.store import Loader

sys.path.insert(0, str(Path(__file__).parent))
from make_links import links

SECRET = "bench-secret-0123456789"
PIP_UA = (
    'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"bookworm","libc":{"lib":"glibc","version":"2.36"},'
    '"name":"Debian GNU/Linux","version":"12"},"implementation":{"name":"CPython","version":"3.11.7"},'
    '"installer":{"name":"pip","version":"24.0"},"openssl_version":"OpenSSL 3.0.11 19 Sep 2023",'
    '"python":"3.11.7","rustc_version":"1.75.0","setuptools_version":"69.0.3","system":{"name":"Linux",'
    '"release":"6.1.0-17-amd64"}}'
)


class Headers:
    """What granian's RSGI headers object offers the gateway: a case-insensitive `get`."""

    def __init__(self, items: dict[str, str]) -> None:
        self._d = items

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._d.get(key, default)


async def drive(gateway: GatewayCore, paths: list[str], total: int, concurrency: int) -> float:
    """Answer `total` requests in concurrent batches; CPU seconds taken (robust on a busy machine)."""
    headers = Headers(
        {"user-agent": PIP_UA, "accept": "*/*", "accept-encoding": "gzip, deflate", "host": "x"}
    )
    n = len(paths)
    started = time.process_time()
    for start in range(0, total, concurrency):
        batch = [
            gateway.handle("GET", paths[(start + j) % n], "", headers, "127.0.0.1")
            for j in range(min(concurrency, total - start))
        ]
        for status, _, _ in await asyncio.gather(*batch):
            if status != 302:
                raise SystemExit(f"expected 302, got {status}")
    return time.process_time() - started


async def run(args: argparse.Namespace, data_dir: Path) -> None:
    cfg = Config(
        server=Server(),
        gateway=Gateway(id="bench", secret=SECRET),
        upstreams={"pypi": Upstream(url="http://127.0.0.1:9/simple/")},
        storage=msgspec.structs.replace(Storage(), data_dir=str(data_dir)),
    )
    worker = Worker(cfg)
    gateway = await worker.start()
    paths = links(SECRET, args.links, 40)
    try:
        await drive(gateway, paths, min(args.requests, 20_000), args.concurrency)  # warm memos
        secs = await drive(gateway, paths, args.requests, args.concurrency)
        print(
            f"{args.requests} requests: {secs * 1e6 / args.requests:.2f} us CPU each ({args.requests / secs:.0f}/cpu-s)"
        )
        if args.profile and not args.loader:
            prof = cProfile.Profile()
            prof.enable()
            await drive(gateway, paths, args.requests, args.concurrency)
            prof.disable()
            stats = pstats.Stats(prof).sort_stats(args.sort)
            stats.print_stats(args.profile)
    finally:
        await worker.close()
    if args.loader:
        load(args, cfg.paths.store, cfg.paths.spool)


def load(args: argparse.Namespace, store: Path, spool: Path) -> None:
    """Everything spooled above into a fresh store, in the loader's batches; CPU per event."""
    seal_all(spool)
    loader = Loader(store, spool)
    prof = cProfile.Profile() if args.profile else None
    started = time.process_time()
    if prof is not None:
        prof.enable()
    while loader.run_once():
        pass
    if prof is not None:
        prof.disable()
    secs = time.process_time() - started
    n = loader.loaded_total
    print(
        f"loader: {n} events in {secs:.2f} CPU-s: {n / secs:.0f} events per CPU-s ({secs * 1e6 / n:.2f} us each)"
    )
    if prof is not None:
        pstats.Stats(prof).sort_stats(args.sort).print_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--profile", type=int, default=0, help="print this many top functions")
    parser.add_argument("--loader", action="store_true", help="then load the spool into DuckDB")
    parser.add_argument("--sort", default="tottime", choices=["tottime", "cumulative"])
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="pkgate-profile.") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
