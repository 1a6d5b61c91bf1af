"""What an insight is, declared once: name, parameters (with bounds and defaults) and row type.

`pkgate report <topic>` options, the `/api/<name>` routes, the OpenAPI document and the dashboard's
calls are all generated from these specs (`pkgate.insights.registry.INSIGHTS`), so a bound or a
default is written exactly once and the four cannot drift apart (tests/insights/test_registry.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import duckdb
import msgspec

from pkgate.insights.params import parse_bool, parse_choice, parse_int
from pkgate.insights.query import Query

__all__ = [
    "ALL_SOURCES",
    "COMMON",
    "Args",
    "Insight",
    "Param",
    "boolean",
    "check_unique",
    "choice",
    "integer",
    "people",
]

#: Parsed parameter values by name, as the runner receives them.
Args = Mapping[str, Any]
Runner = Callable[[duckdb.DuckDBPyConnection, Query, Args], Sequence[Any]]
Kind = Literal["int", "choice", "bool"]


class Param(msgspec.Struct, frozen=True, kw_only=True):
    """One parameter beyond the common range/project/ecosystem ones.

    `default` None on a choice makes it required. Values arrive as text (query string or CLI
    option) and are parsed by `parse`, the only place the bounds are checked.
    """

    name: str
    help: str
    kind: Kind
    default: int | str | bool | None = None
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.kind == "choice" and self.default is None

    @property
    def option(self) -> str:
        """The CLI option: `--max-file-per-day` for `max_file_per_day`."""
        return "--" + self.name.replace("_", "-")

    def parse(self, params: Mapping[str, str]) -> Any:
        """The value from text parameters; raises ParamError naming the parameter."""
        if self.kind == "int":
            return parse_int(params, self.name, int(self.default or 0), self.low, self.high)
        if self.kind == "choice":
            return parse_choice(
                params, self.name, self.choices, None if self.default is None else str(self.default)
            )
        return parse_bool(params, self.name)

    def describe(self) -> str:
        """Help text with the accepted values and the default, as CLI help and OpenAPI show it."""
        if self.kind == "int":
            extra = f" {self.low}..{self.high}, default {self.default}."
        elif self.kind == "choice":
            extra = f" One of {', '.join(self.choices)}" + (
                "; required." if self.default is None else f"; default {self.default}."
            )
        else:
            extra = " Default false."
        return self.help + extra

    def schema(self) -> dict[str, Any]:
        """JSON Schema of the value (OpenAPI)."""
        if self.kind == "int":
            return {"type": "integer", "minimum": self.low, "maximum": self.high, "default": self.default}
        if self.kind == "choice":
            out: dict[str, Any] = {"type": "string", "enum": list(self.choices)}
            if self.default is not None:
                out["default"] = self.default
            return out
        return {"type": "boolean", "default": False}


def integer(name: str, help: str, default: int, low: int, high: int) -> Param:
    return Param(name=name, help=help, kind="int", default=default, low=low, high=high)


def choice(name: str, help: str, choices: Sequence[str], default: str | None) -> Param:
    if default is not None and default not in choices:
        raise ValueError(f"{name}: default {default!r} is not a choice")
    return Param(name=name, help=help, kind="choice", default=default, choices=tuple(choices))


def boolean(name: str, help: str) -> Param:
    return Param(name=name, help=help, kind="bool", default=False)


#: The switch of every insight made with `people`: reports leave out mirrors, bots and CI unless it is set.
ALL_SOURCES: Final = boolean(
    "all_sources",
    "Count mirrors, bots and CI too (by default the source-days classed mirror, bot or CI are left out).",
)


class Insight(msgspec.Struct, frozen=True, kw_only=True):
    """One insight: served at `/api/<name>`, reported by `pkgate report <topic>`."""

    name: str
    title: str
    summary: str
    row: type[msgspec.Struct]
    run: Runner
    params: tuple[Param, ...] = ()

    @property
    def topic(self) -> str:
        """The CLI topic: the name with dashes (`heavy-hitters` for `heavy_hitters`)."""
        return self.name.replace("_", "-")

    @property
    def columns(self) -> list[str]:
        return [f.name for f in msgspec.structs.fields(self.row)]

    def parse(self, params: Mapping[str, str]) -> dict[str, Any]:
        """Every parameter's value (defaults filled in); raises ParamError on the first bad one."""
        return {p.name: p.parse(params) for p in self.params}

    def query(self, q: Query, args: Args) -> Query:
        """The query the insight runs: with `ALL_SOURCES` among its parameters, mirrors, bots and
        CI are left out unless it is set; other insights see every source."""
        if ALL_SOURCES.name in args:
            return msgspec.structs.replace(q, all_sources=bool(args[ALL_SOURCES.name]))
        return q

    def __call__(self, con: duckdb.DuckDBPyConnection, q: Query, params: Mapping[str, str]) -> Sequence[Any]:
        """Parse, then run: the one path every caller (CLI, API, tests) goes through."""
        args = self.parse(params)
        return self.run(con, self.query(q, args), args)


def people(**kw: Any) -> Insight:
    """An insight about people installing: its reports leave mirrors, bots and CI out by default
    and take the `all_sources` switch (`--all-sources`, `all_sources=true`)."""
    kw["params"] = (*kw.get("params", ()), ALL_SOURCES)
    return Insight(**kw)


#: Parameter names reserved for the common filter (parsed into the `Query`).
COMMON: Final = ("since", "until", "project", "ecosystem")


def check_unique(insights: Sequence[Insight]) -> None:
    """Names unique, parameters not shadowing the common ones (raises at import, never later)."""
    seen: set[str] = set()
    for i in insights:
        if i.name in seen:
            raise ValueError(f"insight {i.name!r} declared twice")
        seen.add(i.name)
        for p in i.params:
            if p.name in COMMON:
                raise ValueError(f"{i.name}: parameter {p.name!r} is a common one")
