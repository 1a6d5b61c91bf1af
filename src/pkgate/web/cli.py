"""`pkgate dashboard`: the JSON API and the dashboard over a gateway's store (registered in pkgate.cli)."""

from __future__ import annotations

from typing import Annotated

import typer

from pkgate import config as config_mod
from pkgate.errors import PkgateError
from pkgate.extras import require

__all__ = ["dashboard"]


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
        if not secret:
            raise PkgateError(
                "the API needs an admin token: set gateway.admin_token in the config "
                "(or $PKGATE_GATEWAY_ADMIN_TOKEN), or pass --token"
            )
        if not 0 < port <= 65535:
            raise PkgateError(f"--port: must be 1..65535, got {port}")
        app = create_app(cfg.paths.store, secret)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"pkgate dashboard: http://{host}:{port}/dashboard (API: /api/openapi.json; store {cfg.paths.store})",
        err=True,
    )
    serve_forever(app, host, port)
