"""`pkgate report <topic>`, generated from the insight specs.

The options are the common ones plus the union of every insight's parameters; their values are
handed over as text to the very parsers the API uses (`Insight.parse`, `parse_query`), so a
bound, a default or an error message is the same in the CLI and over HTTP.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from pkgate.errors import PkgateError
from pkgate.insights.params import ECOSYSTEMS, ParamError, parse_query
from pkgate.insights.registry import INSIGHTS, by_topic
from pkgate.insights.spec import COMMON, Param
from pkgate.report.render import REPORT_FORMATS, render_rows, write_parquet

__all__ = ["cli_options", "make_report_command"]

StoreOf = Callable[[str | None], Path]
Connect = Callable[[Path], Any]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"pkgate: error: {message}", err=True)
    return typer.Exit(2)


def cli_options() -> dict[str, list[tuple[str, Param]]]:
    """Parameter name -> [(topic, its spec)] over all insights: one CLI option per name."""
    out: dict[str, list[tuple[str, Param]]] = {}
    for i in INSIGHTS:
        for p in i.params:
            out.setdefault(p.name, []).append((i.topic, p))
    return out


def _option_help(uses: list[tuple[str, Param]]) -> str:
    return " ".join(f"{topic}: {p.describe()}" for topic, p in uses)


def _flag(message: str) -> str:
    """A ParamError message with the CLI option name in front instead of the parameter name."""
    name, _, rest = message.partition(": ")
    return f"--{name.replace('_', '-')}: {rest}"


def _parameters() -> list[inspect.Parameter]:
    def opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)

    topics = ", ".join(i.topic for i in INSIGHTS)
    text = str | None
    params = [
        opt("topic", Annotated[str, typer.Argument(help=f"One of {topics}.")], "downloads"),
        opt(
            "config",
            Annotated[
                text, typer.Option("--config", "-c", help="TOML config file (default: $PKGATE_CONFIG).")
            ],
            None,
        ),
        opt(
            "since",
            Annotated[text, typer.Option(help="Start (UTC, inclusive). Default: 29 days before today.")],
            None,
        ),
        opt(
            "until",
            Annotated[text, typer.Option(help="End (UTC, exclusive). Default: the end of today.")],
            None,
        ),
        opt("project", Annotated[text, typer.Option(help="Only this project (any spelling).")], None),
        opt(
            "ecosystem",
            Annotated[text, typer.Option(help=f"Only this ecosystem ({', '.join(ECOSYSTEMS)}).")],
            None,
        ),
        opt(
            "fmt",
            Annotated[str, typer.Option("--format", "-f", help="table, json, csv or parquet.")],
            "table",
        ),
        opt("output", Annotated[text, typer.Option("--output", "-o", help="Write to this file.")], None),
    ]
    for name, uses in cli_options().items():
        help_text = _option_help(uses)
        if uses[0][1].kind == "bool":
            params.append(opt(name, Annotated[bool, typer.Option(uses[0][1].option, help=help_text)], False))
        else:
            params.append(opt(name, Annotated[text, typer.Option(uses[0][1].option, help=help_text)], None))
    return params


def make_report_command(store_of: StoreOf, connect: Connect) -> Callable[..., None]:
    """The typer command; `store_of(config)` finds the store file, `connect(path)` opens it read-only."""

    def report(**kw: Any) -> None:
        topic = kw.pop("topic")
        insight = by_topic(topic)
        if insight is None:
            raise _fail(
                f"unknown report topic {topic!r}; expected one of {', '.join(i.topic for i in INSIGHTS)}"
            )
        fmt, output = kw.pop("fmt"), kw.pop("output")
        if fmt not in REPORT_FORMATS:
            raise _fail(f"--format: expected one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
        if fmt == "parquet" and not output:
            raise _fail("--format parquet needs --output FILE")
        config = kw.pop("config")
        text = {
            k: ("true" if v else "false") if isinstance(v, bool) else str(v)
            for k, v in kw.items()
            if v is not None
        }
        used = {p.name for p in insight.params} | set(COMMON)
        stray = sorted("--" + k.replace("_", "-") for k in text if k not in used and text[k] != "false")
        if stray:
            raise _fail(f"{insight.topic} does not take {', '.join(stray)}")
        try:
            q = parse_query(text)
            args = insight.parse(text)
            q = insight.query(q, args)
        except ParamError as exc:
            raise _fail(_flag(str(exc))) from None
        try:
            con = connect(store_of(config))
            try:
                rows = insight.run(con, q, args)
            finally:
                con.close()
            if fmt == "parquet":
                write_parquet(rows, insight.row, Path(str(output)))
                typer.echo(f"wrote {len(rows)} rows to {output}", err=True)
                return
        except PkgateError as exc:
            raise _fail(str(exc)) from None
        title = f"{insight.title}, {q.since:%Y-%m-%d} .. {q.until:%Y-%m-%d}"
        out = render_rows(rows, fmt, title=title, columns=insight.columns)
        if output:
            try:
                Path(output).write_text(out)
            except OSError as exc:
                raise _fail(f"cannot write {output}: {exc.strerror}") from None
        else:
            sys.stdout.write(out)

    params = _parameters()
    report.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    report.__annotations__ = {p.name: p.annotation for p in params}
    report.__doc__ = "Usage reports, one topic per insight (the same names and parameters as /api/)."
    return report
