"""Command-line entry points. Thin: parse options, call the package, print, map errors to exit codes."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

    from pkgate.server import serve as run

    config = config_mod.source(config)  # the workers must read the same file ($PKGATE_CONFIG too)
    cfg = _load(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    banner = (
        f"pkgate {__version__}: http://{cfg.server.host}:{cfg.server.port}/simple/ -> data in {cfg.data_dir}"
    )
    typer.echo(banner, err=True)
    try:
        run(cfg, config)
    except ConfigError as exc:  # raised past parsing (preflight, credentials): name the file here
        raise _fail(str(exc.located(config or "defaults"))) from None
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
def rebuild(config: ConfigOpt = None) -> None:
    """Re-create the store from the retained spool segments and folded rollups (gateway stopped).

    The current store, if any, is moved to store-aside/ (never deleted)."""
    from pkgate.server import lock_data_dir
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


@app.command()
def report(
    topic: Annotated[
        str,
        typer.Argument(
            help="downloads, daily, uniques, behaviour, behaviour-summary, heavy-hitters, concentration, "
            "breakdown, adoption or first-seen."
        ),
    ] = "downloads",
    config: ConfigOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    project: ProjectOpt = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, csv or parquet.")] = "table",
    output: OutputOpt = None,
    by: Annotated[str | None, typer.Option(help="breakdown: the dimension (installer, python, ...).")] = None,
    over_time: Annotated[bool, typer.Option(help="breakdown: one row per day and value.")] = False,
    level: Annotated[str, typer.Option(help="uniques: client or network.")] = "client",
    period: Annotated[str, typer.Option(help="uniques: day, week or month; adoption: day or week.")] = "day",
    top: Annotated[int, typer.Option(help="heavy-hitters: how many.")] = 20,
    limit: Annotated[int, typer.Option(help="behaviour: at most this many rows.")] = 1000,
) -> None:
    """Usage reports (downloads vs attempts, uniques, behaviour classes, heavy hitters, breakdowns, adoption)."""
    import msgspec

    from pkgate.insights import DIMENSIONS, LEVELS, PERIODS
    from pkgate.report import REPORT_FORMATS, TOPICS, Options, columns, render_rows, write_parquet
    from pkgate.store import connect

    if topic not in TOPICS:
        raise _fail(f"unknown report topic {topic!r}; expected one of {', '.join(TOPICS)}")
    if fmt not in REPORT_FORMATS:
        raise _fail(f"--format: expected one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
    if fmt == "parquet" and not output:
        raise _fail("--format parquet needs --output FILE")
    if by is not None and by not in DIMENSIONS:
        raise _fail(f"--by: expected one of {', '.join(DIMENSIONS)}, got {by!r}")
    if level not in LEVELS or period not in PERIODS:
        raise _fail(f"--level must be one of {', '.join(LEVELS)} and --period one of {', '.join(PERIODS)}")
    if top < 1 or limit < 1:
        raise _fail("--top and --limit must be at least 1")
    cfg = _load(config)
    q = _query(since, until, project)
    opts = msgspec.convert(
        {"by": by, "over_time": over_time, "level": level, "period": period, "top": top, "limit": limit},
        Options,
    )
    chosen = TOPICS[topic]
    try:
        con = connect(cfg.paths.store, read_only=True)
        try:
            rows = chosen.run(con, q, opts)
        finally:
            con.close()
        if fmt == "parquet":
            write_parquet(rows, chosen.row, Path(str(output)))
            typer.echo(f"wrote {len(rows)} rows to {output}", err=True)
            return
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    title = f"{chosen.title}, {q.since:%Y-%m-%d} .. {q.until:%Y-%m-%d}"
    text = render_rows(rows, fmt, title=title, columns=columns(topic))
    if output:
        _write_text(Path(output), text)
    else:
        sys.stdout.write(text)


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror}") from None


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

    from pkgate.server import collect as run

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

    app.command("dashboard")(dashboard_command)
    app.command("demo")(demo_command)
    app.command("ingest")(ingest_command)
    app.command("tail")(tail_command)


_register_web()


def main() -> None:
    app()
