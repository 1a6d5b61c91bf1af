"""The demo's gateway: `pkgate serve`'s gateway with the demo clock injected.

`pkgate demo` runs `python -m pkgate.demo.gateway --config FILE`: the same supervisor, workers,
spool and store as `pkgate serve`, except that the workers (granian calls `rsgi_app`/`asgi_app`
here) stamp each request with its simulated time (`pkgate.demo.clock`). Loopback only.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pkgate import config as config_mod
from pkgate.demo.clock import demo_clock
from pkgate.edge.app import ASGIApp, RSGIApp, from_env
from pkgate.errors import PkgateError

__all__ = ["asgi_app", "main", "rsgi_app"]

_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def rsgi_app() -> RSGIApp:
    return RSGIApp(*from_env(), clock=demo_clock)


def asgi_app() -> ASGIApp:
    return ASGIApp(*from_env(), clock=demo_clock)


def main(argv: list[str] | None = None) -> None:
    from pkgate.server.supervisor import serve

    parser = argparse.ArgumentParser(prog="python -m pkgate.demo.gateway", description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = config_mod.load(args.config)
        if cfg.server.host not in _LOOPBACK:
            raise PkgateError(f"{args.config}: server.host: the demo gateway serves loopback only")
        serve(cfg, args.config, app=__name__)
    except PkgateError as exc:
        print(f"pkgate: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
