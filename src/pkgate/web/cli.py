"""`pkgate dashboard`: the JSON API and the dashboard over a gateway's store (registered in pkgate.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pkgate import config as config_mod
from pkgate.errors import PkgateError
from pkgate.extras import require

if TYPE_CHECKING:
    from pkgate.web.public import PublicSite

__all__ = ["dashboard", "publish"]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"pkgate: error: {message}", err=True)
    return typer.Exit(2)


def dashboard(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="TOML config file (default: $PKGATE_CONFIG, else built-in defaults)."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    token: Annotated[
        str | None,
        typer.Option(
            help="Admin token for /api/ (default: gateway.admin_token, or $PKGATE_GATEWAY_ADMIN_TOKEN).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the JSON API (/api/) and the web dashboard (/dashboard) over the gateway's store."""
    try:
        require("dashboard", "`pkgate dashboard`")
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    from pkgate.web.app import create_app
    from pkgate.web.serve import serve_forever

    try:
        cfg = config_mod.load(config)
        secret = token or cfg.gateway.admin_token
        site = _site(cfg) if cfg.public.projects else None
        if not secret and site is None:
            raise PkgateError(
                "the API needs an admin token: set gateway.admin_token in the config "
                "(or $PKGATE_GATEWAY_ADMIN_TOKEN), or pass --token (or list public.projects to serve "
                "only the public pages)"
            )
        if not 0 < port <= 65535:
            raise PkgateError(f"--port: must be 1..65535, got {port}")
        app = create_app(cfg.paths.store, secret, public=site)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"pkgate dashboard: http://{host}:{port}/dashboard (API: /api/openapi.json; store {cfg.paths.store})",
        err=True,
    )
    if site is not None:
        typer.echo(f"pkgate dashboard: public stats at http://{host}:{port}/public/ (no token)", err=True)
    serve_forever(app, host, port)


def _site(cfg: config_mod.Config) -> PublicSite:
    """The public stats of `public.projects`; raises ConfigError at start when noise is asked for
    without the `public` extra (OpenDP), rather than on a visitor's request."""
    from pkgate.web.public import PublicSite

    if cfg.public.epsilon > 0:
        require("public", "public.epsilon (differential-privacy noise)")

    return PublicSite(cfg.public, cfg.paths.store, cfg.data_dir / "public")


def publish(
    out: Annotated[Path, typer.Argument(help="Directory to write the static files into.")],
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="TOML config file (default: $PKGATE_CONFIG, else built-in defaults)."
        ),
    ] = None,
) -> None:
    """Write the public stats pages, JSON and badges of `public.projects` as static files."""
    from pkgate.web.public import publish as write

    try:
        cfg = config_mod.load(config)
        if not cfg.public.projects:
            raise PkgateError("public.projects is empty: list the projects whose stats may be public")
        if not cfg.paths.store.exists():
            raise PkgateError(f"no store at {cfg.paths.store} (storage.data_dir): nothing recorded yet")
        files = write(_site(cfg), out)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"{out}: cannot write: {exc.strerror or exc}") from None
    typer.echo(f"pkgate publish: {len(files)} files in {out}", err=True)
