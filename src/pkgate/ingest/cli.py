"""`pkgate ingest` and `pkgate tail` (registered in pkgate.cli): options, progress bar, summary."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pkgate import config as config_mod
from pkgate.errors import PkgateError

__all__ = ["ingest_command", "tail_command"]

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="TOML config file (default: $PKGATE_CONFIG, else built-in defaults)."
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        help="combined (= nginx, apache), nginx-json, cloudfront, cloudflare or json; default: detected.",
        show_default=False,
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        help="Events get origin log:NAME (default: ingest.name, else the format).", show_default=False
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"pkgate: error: {message}", err=True)
    return typer.Exit(2)


def _summary_text(s: object) -> str:
    from pkgate.ingest.run import Summary

    assert isinstance(s, Summary)
    rejected = ", ".join(f"{reason} {n}" for reason, n in sorted(s.rejected.items())) or "none"
    return (
        f"{s.files} file(s): {s.lines} lines read in {s.seconds:.1f} s ({s.rate:,.0f} lines/s), "
        f"{s.skipped} skipped (ingested before), {s.blank} blank/header; "
        f"{s.stored} events stored, {s.duplicates} already stored; "
        f"rejected: {rejected}"
    )


def ingest_command(
    files: Annotated[list[str], typer.Argument(help="Access logs (.gz, .bz2, .zst too); - for stdin.")],
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
    name: NameOpt = None,
    strict: Annotated[
        bool, typer.Option(help="Stop at the first bad line (file:line) instead of skipping.")
    ] = False,
    jobs: Annotated[int, typer.Option(help="Worker processes (0: one per CPU).")] = 0,
    from_start: Annotated[
        bool, typer.Option(help="Read logs from the start despite recorded progress.")
    ] = False,
    progress: Annotated[
        bool, typer.Option(help="Progress bar (default: when stderr is a terminal).")
    ] = sys.stderr.isatty(),
) -> None:
    """Turn access logs (nginx, Apache, CloudFront, Cloudflare, JSON) into events, as if a gateway had
    answered them: same kinds, enrichment and privacy; ingesting a log twice adds nothing."""
    from pkgate.ingest.detect import FORMATS
    from pkgate.ingest.run import Options, ingest

    if fmt is not None and fmt not in FORMATS:
        raise _fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if jobs < 0:
        raise _fail("--jobs must be 0 (one per CPU) or more")
    if (name is not None and not all(c.isalnum() or c in "._-" for c in name)) or name == "":
        raise _fail("--name: letters, digits, '.', '-' or '_'")
    try:
        cfg = config_mod.load(config)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    opts = Options(fmt=fmt, name=name, strict=strict, jobs=jobs, from_start=from_start)
    try:
        summary = _with_bar(cfg, files, opts) if progress else ingest(cfg, files, opts)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(_summary_text(summary), err=True)


def _with_bar(cfg: config_mod.Config, files: list[str], opts: object) -> object:
    import time

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from pkgate.ingest.run import Options, ingest

    assert isinstance(opts, Options)
    started = time.monotonic()
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[lines]:>12,} lines  {task.fields[rate]:>9,.0f} lines/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks: dict[str, object] = {}

    def update(file: str, done: int, size: int | None, lines: int) -> None:
        task = tasks.get(file)
        if task is None:
            task = tasks[file] = bar.add_task(file[-40:], total=size, lines=0, rate=0.0)
        rate = lines / max(time.monotonic() - started, 1e-6)
        bar.update(task, completed=done, lines=lines, rate=rate)  # type: ignore[arg-type]

    with bar:
        return ingest(cfg, files, opts, progress=update)


def tail_command(
    file: Annotated[str, typer.Argument(help="The access log to follow (plain text).")],
    config: ConfigOpt = None,
    fmt: FormatOpt = None,
    name: NameOpt = None,
    interval: Annotated[float, typer.Option(help="Seconds between reads (and store commits).")] = 1.0,
    jobs: Annotated[int, typer.Option(help="Worker processes (1: in this process).")] = 1,
) -> None:
    """Follow a growing access log (surviving rename and copytruncate rotation) until interrupted."""
    import signal
    import threading

    from pkgate.ingest.detect import FORMATS
    from pkgate.ingest.run import Options
    from pkgate.ingest.tail import tail

    if fmt is not None and fmt not in FORMATS:
        raise _fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if not 0.01 <= interval <= 3600 or jobs < 0:
        raise _fail("--interval must be between 0.01 and 3600 seconds, --jobs 0 or more")
    try:
        cfg = config_mod.load(config)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        summary = tail(cfg, file, Options(fmt=fmt, name=name, jobs=jobs), stop, interval)
    except PkgateError as exc:
        raise _fail(str(exc)) from None
    typer.echo(_summary_text(summary), err=True)
