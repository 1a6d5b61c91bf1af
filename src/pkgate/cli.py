"""Command-line entry points. Thin: parse options, call the package, print, map errors to exit codes."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pkgate import __version__
from pkgate import config as config_mod
from pkgate.errors import ConfigError, PkgateError

if TYPE_CHECKING:
    from pkgate.insights import Query

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

    from pkgate import startup
    from pkgate.server.reload import preflight
    from pkgate.server.supervisor import serve as run

    config = config_mod.source(config)  # the workers must read the same file ($PKGATE_CONFIG too)
    cfg = _load(config)
    try:
        preflight(cfg)
        startup.check(cfg)  # every start-up failure is one line, before anything else is printed
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        banner = f"pkgate {__version__}: http://{cfg.server.host}:{cfg.server.port}/simple/ -> data in {cfg.data_dir}"
        typer.echo(banner, err=True)
        run(cfg, config)
    except ConfigError as exc:  # raised past parsing (preflight, credentials): name the file here
        raise _fail(str(exc.located(config or "defaults"))) from None
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # what the checks could not foresee: still one line, not a traceback
        raise _fail(f"{exc.strerror or exc}{f': {exc.filename}' if exc.filename else ''}") from None


@app.command()
def load(config: ConfigOpt = None) -> None:
    """Load everything left in the spool into the store (e.g. after a crash, with the gateway stopped)."""
    from pkgate.server.consume import drain
    from pkgate.startup import lock_data_dir

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
def rebuild(config: ConfigOpt = None) -> None:
    """Re-create the store from the retained spool segments and folded rollups (gateway stopped).

    The current store, if any, is moved to store-aside/ (never deleted)."""
    from pkgate.startup import lock_data_dir
    from pkgate.store.rebuild import rebuild_with_progress

    cfg = _load(config)
    try:
        lock = lock_data_dir(cfg)
        try:
            result = rebuild_with_progress(cfg)
        finally:
            lock.close()
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    aside = f"; the previous store is in {result.moved_to}" if result.moved_to else ""
    typer.echo(
        f"rebuilt: {result.events} events from {result.segments} retained segments"
        f" and {result.folded_days} folded days{aside}"
    )


SinceOpt = Annotated[
    str | None, typer.Option(help="Start date (UTC, inclusive). Default: the start of the day 29 days ago.")
]
UntilOpt = Annotated[str | None, typer.Option(help="End date (UTC, exclusive). Default: the end of today.")]
ProjectOpt = Annotated[str | None, typer.Option(help="Only this project (any spelling).")]
OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


def _query(since: str | None, until: str | None, project: str | None) -> Query:
    from packaging.utils import canonicalize_name

    from pkgate.insights import Query

    default = Query.whole_days(30)  # whole UTC days: answered from the rollups
    start = _day(since, default.since, "--since")
    end = _day(until, default.until, "--until")
    return Query(since=start, until=end, project=str(canonicalize_name(project)) if project else None)


def _report_store(config: str | None) -> Path:
    return _load(config).paths.store


def _report_connect(path: Path) -> Any:
    from pkgate.store import connect

    return connect(path, read_only=True)


def _register_report() -> None:
    from pkgate.report.command import make_report_command

    app.command("report")(make_report_command(_report_store, _report_connect))


_register_report()


@app.command()
def export(
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="parquet or csv.")] = "parquet",
    output: Annotated[str, typer.Option("--output", "-o", help="The file to write.")] = "",
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Export stored events (every field kept about each request) to Parquet or CSV."""
    from pkgate.report import EXPORT_FORMATS, export_events
    from pkgate.store import connect

    if fmt not in EXPORT_FORMATS:
        raise _fail(f"--format: expected one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if not output:
        raise _fail("--output FILE is required")
    cfg = _load(config)
    q = _query(since, until, project)
    try:
        con = connect(cfg.paths.store, read_only=True)
        try:
            n = export_events(con, q, fmt, Path(output))
        finally:
            con.close()
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"exported {n} events to {output}")


@app.command()
def events(
    config: ConfigOpt = None,
    fmt: FormatOpt = "json",
    limit: Annotated[int, typer.Option(help="At most this many, newest last.")] = 1_000_000,
) -> None:
    """Print stored events (every field kept about each request)."""
    from pkgate.report import FORMATS, render_rows
    from pkgate.store import connect

    if fmt not in FORMATS:
        raise _fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    cfg = _load(config)
    try:
        con = connect(cfg.paths.store, read_only=True)
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
    from pkgate.store import connect
    from pkgate.store import erase as erase_ids

    cfg = _load(config)
    bad = [s for s in source_ids if not (4 <= len(s) <= 64 and all(c in "0123456789abcdef" for c in s))]
    if bad:
        raise _fail(f"not a source id (hex, as in `pkgate events`): {bad[0]!r}")
    try:
        con = connect(cfg.paths.store)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    try:
        n = erase_ids(con, source_ids)
    finally:
        con.close()
    typer.echo(f"erased {n} events of {len(source_ids)} source id(s)")


@app.command()
def collect(config: ConfigOpt = None) -> None:
    """Fleet mode: consume every gateway's events from NATS JetStream into this store (until interrupted)."""
    import logging

    from pkgate.server.supervisor import collect as run

    config = config_mod.source(config)
    cfg = _load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(cfg)
    except ConfigError as exc:  # raised past parsing (preflight, credentials): name the file here
        raise _fail(str(exc.located(config or "defaults"))) from None
    except PkgateError as exc:
        raise _fail(str(exc)) from None


@app.command("config")
def show_config(config: ConfigOpt = None) -> None:
    """Print the effective configuration (file + environment + defaults) as TOML."""
    sys.stdout.write(config_mod.to_toml(_load(config)))


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _register_web() -> None:
    """The dashboard and demo commands live with their packages; their heavy imports load lazily."""
    from pkgate.demo.cli import demo as demo_command
    from pkgate.ingest.cli import ingest_command, tail_command
    from pkgate.web.cli import dashboard as dashboard_command
    from pkgate.web.cli import publish as publish_command

    app.command("dashboard")(dashboard_command)
    app.command("publish")(publish_command)
    app.command("demo")(demo_command)
    app.command("ingest")(ingest_command)
    app.command("tail")(tail_command)


_register_web()


def main() -> None:
    app()
