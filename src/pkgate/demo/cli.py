"""`pkgate demo` (registered in pkgate.cli): see a gateway's insights in a minute, offline."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pkgate.errors import PkgateError
from pkgate.extras import require

__all__ = ["demo"]


def demo(
    days: Annotated[int, typer.Option(help="Simulated days of traffic (ending today).")] = 3,
    port: Annotated[int, typer.Option(help="Dashboard port.")] = 8081,
    wheels: Annotated[
        str | None,
        typer.Option(
            help="Directory of wheels for the local upstream "
            "(default: a checkout's .cache/test-dists, else generated sample wheels)."
        ),
    ] = None,
    workdir: Annotated[
        str | None, typer.Option("--dir", help="Keep the demo's files here (default: a temporary directory).")
    ] = None,
    serve: Annotated[bool, typer.Option(help="Serve the dashboard afterwards (until Ctrl-C).")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the simulated traffic.")] = 7,
) -> None:
    """Start a gateway in front of a local upstream, simulate days of clients, serve the dashboard."""
    from pkgate.demo.run import Demo, find_wheels
    from pkgate.demo.sample import write_sample_wheels

    if not 1 <= days <= 30:
        raise _fail(f"--days: must be 1..30, got {days}")
    if serve:
        try:
            require("dashboard", "the demo's dashboard (--no-serve runs the demo without it)")
        except PkgateError as exc:
            raise _fail(str(exc)) from None
    source = Path(wheels) if wheels else find_wheels()
    if source is not None and not source.is_dir():
        raise _fail(f"--wheels: {source} is not a directory")
    tmp = None if workdir else tempfile.mkdtemp(prefix="pkgate-demo-")
    root = Path(workdir or str(tmp))
    root.mkdir(parents=True, exist_ok=True)
    if source is None:  # an installed pkgate, no checkout: generated sample wheels
        source = write_sample_wheels(root / "wheels")
    token = secrets.token_urlsafe(24)
    run = Demo(root, source, token, days=days, seed=seed, say=lambda m: typer.echo(f"demo: {m}", err=True))
    try:
        run.start()
        run.play()
        if serve:
            run.settle()  # the Requires-Dist of what was downloaded, for the dependency panels
            from pkgate.web.app import create_app
            from pkgate.web.serve import serve_forever

            app = create_app(run.store, token)
            typer.echo(
                f"demo: dashboard http://127.0.0.1:{port}/dashboard#token={token}\n"
                f"demo: try it yourself: pip install --index-url {run.gateway_url}/simple/ {min(run.projects)}\n"
                "demo: Ctrl-C to stop",
                err=True,
            )
            serve_forever(app, "127.0.0.1", port)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    finally:
        run.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"pkgate: error: {message}", err=True)
    return typer.Exit(2)
