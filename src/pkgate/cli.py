"""Command-line entry points. Thin: parse options, call the package, print, map errors to exit codes."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated

import typer

from pkgate import __version__
from pkgate import config as config_mod
from pkgate.errors import ConfigError, PkgateError

app = typer.Typer(
    name="pkgate",
    help="A package registry gateway that records every request without keeping personal data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="TOML config file (default: $PKGATE_CONFIG, else built-in defaults)."
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"pkgate: error: {message}", err=True)
    return typer.Exit(code)


def _load(path: str | None) -> config_mod.Config:
    try:
        return config_mod.load(path)
    except PkgateError as exc:
        raise _fail(str(exc)) from None


def _day(text: str | None, default: dt.datetime, option: str) -> dt.datetime:
    if text is None:
        return default
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{option}: expected a date like 2026-11-25 or 2026-11-25T12:00, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@app.command()
def serve(config: ConfigOpt = None) -> None:
    """Run the gateway (granian workers + spool loader) until interrupted."""
    import logging

    from pkgate.server import serve as run

    cfg = _load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    banner = (
        f"pkgate {__version__}: http://{cfg.server.host}:{cfg.server.port}/simple/ -> data in {cfg.data_dir}"
    )
    typer.echo(banner, err=True)
    try:
        run(cfg, config)
    except ConfigError as exc:
        origin = config or "defaults"
        raise _fail(str(exc) if str(exc).startswith(origin) else f"{origin}: {exc}") from None
    except PkgateError as exc:
        raise _fail(str(exc)) from None


@app.command()
def load(config: ConfigOpt = None) -> None:
    """Load everything left in the spool into the store (e.g. after a crash, with the gateway stopped)."""
    from pkgate.server import drain, lock_data_dir

    cfg = _load(config)
    try:
        lock = lock_data_dir(cfg)
        try:
            n = drain(cfg)
        finally:
            lock.close()
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"loaded {n} events")


@app.command()
def report(
    config: ConfigOpt = None,
    since: Annotated[
        str | None, typer.Option(help="Start date (UTC, inclusive). Default: 30 days ago.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End date (UTC, exclusive). Default: now.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project (any spelling).")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Downloads and download attempts per project and version, with distinct sources."""
    from pkgate.edge.names import normalize
    from pkgate.insights import Query, downloads
    from pkgate.report import FORMATS, render_rows
    from pkgate.server import store_path
    from pkgate.store import connect

    if fmt not in FORMATS:
        raise _fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    cfg = _load(config)
    now = dt.datetime.now(dt.UTC)
    start = _day(since, now - dt.timedelta(days=30), "--since")
    end = _day(until, now + dt.timedelta(seconds=1), "--until")
    try:
        con = connect(store_path(cfg), read_only=True)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    try:
        rows = downloads(con, Query(since=start, until=end, project=normalize(project) if project else None))
    finally:
        con.close()
    sys.stdout.write(render_rows(rows, fmt, title=f"Downloads {start:%Y-%m-%d} .. {end:%Y-%m-%d}"))


@app.command()
def events(
    config: ConfigOpt = None,
    fmt: FormatOpt = "json",
    limit: Annotated[int, typer.Option(help="At most this many, newest last.")] = 1_000_000,
) -> None:
    """Print stored events (every field kept about each request)."""
    from pkgate.report import FORMATS, render_rows
    from pkgate.server import store_path
    from pkgate.store import connect

    if fmt not in FORMATS:
        raise _fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    cfg = _load(config)
    try:
        con = connect(store_path(cfg), read_only=True)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    try:
        cur = con.execute(
            "SELECT * REPLACE (CAST(id AS VARCHAR) AS id, epoch_us(ts) AS ts) FROM events ORDER BY ts LIMIT ?",
            [limit],
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    for r in rows:
        r["ts_us"] = r.pop("ts")
    sys.stdout.write(render_rows(rows, fmt))


@app.command()
def erase(
    source_ids: Annotated[list[str], typer.Argument(help="Source ids (or network ids) as shown in events.")],
    config: ConfigOpt = None,
) -> None:
    """Delete every stored event linked to these source ids, and drop their late-arriving events."""
    from pkgate.server import store_path
    from pkgate.store import connect
    from pkgate.store import erase as erase_ids

    cfg = _load(config)
    bad = [s for s in source_ids if not (4 <= len(s) <= 64 and all(c in "0123456789abcdef" for c in s))]
    if bad:
        raise _fail(f"not a source id (hex, as in `pkgate events`): {bad[0]!r}")
    try:
        con = connect(store_path(cfg))
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    try:
        n = erase_ids(con, source_ids)
    finally:
        con.close()
    typer.echo(f"erased {n} events of {len(source_ids)} source id(s)")


@app.command("config")
def show_config(config: ConfigOpt = None) -> None:
    """Print the effective configuration (file + environment + defaults) as TOML."""
    sys.stdout.write(config_mod.to_toml(_load(config)))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
