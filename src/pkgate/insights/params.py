"""Text parameters (API query strings, CLI options) -> a validated `Query`, or a precise message.

Every insight takes the same `since`, `until`, `project` and `ecosystem` parameters in
`pkgate report`, the API and the dashboard, parsed here once, so they agree on what a range means:
`since <= ts < until`, in UTC; a date without a time means midnight UTC; the default is the last
`DEFAULT_DAYS` whole UTC days including today (whole days are answered from the rollups).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Final

from packaging.utils import canonicalize_name

from pkgate.insights import Query

__all__ = [
    "DEFAULT_DAYS",
    "ECOSYSTEMS",
    "MAX_DAYS",
    "ParamError",
    "parse_bool",
    "parse_choice",
    "parse_int",
    "parse_query",
]

#: Range used when `since` is not given.
DEFAULT_DAYS: Final = 30
#: The longest range one request may ask for (keeps every query bounded).
MAX_DAYS: Final = 3660
#: The ecosystems an `ecosystem` filter may name (the Event `ecosystem` field's values).
ECOSYSTEMS: Final = ("python", "npm", "files", "oci", "conda")
_MAX_TEXT: Final = 64
#: A project name of PyPI, npm (`@scope/name`), conda or a `[[files]]` entry.
_NAME_RE: Final = re.compile(
    r"(@[A-Za-z0-9._~-]{1,100}/)?([A-Za-z0-9]|[A-Za-z0-9_~][A-Za-z0-9._~-]{0,212}[A-Za-z0-9])"
)
_PATH_NAME_RE: Final = re.compile(
    r"@?[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,8}"
)
_MIN_TS: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_TS: Final = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


class ParamError(ValueError):
    """A query parameter is malformed; `str()` names the parameter and what was expected."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


def _timestamp(param: str, text: str) -> dt.datetime:
    if len(text) > _MAX_TEXT:
        raise ParamError(param, f"too long ({len(text)} characters)")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ParamError(
            param, f"expected a date like 2026-11-25 or 2026-11-25T12:00:00Z, got {text!r}"
        ) from None
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not _MIN_TS <= value < _MAX_TS:
        raise ParamError(param, f"out of range (1970-01-01 .. 9000-01-01), got {text!r}")
    return value.astimezone(dt.UTC)


def parse_query(params: Mapping[str, str], now: dt.datetime | None = None) -> Query:
    """`since`/`until`/`project`/`ecosystem` -> Query; raises ParamError (never anything else).

    Defaults: `until` the next UTC midnight after `now`, `since` `DEFAULT_DAYS` days before it.
    """
    now = now or dt.datetime.now(dt.UTC)
    if params.get("until"):
        until = _timestamp("until", params["until"])
    else:
        today = now.astimezone(dt.UTC).date() + dt.timedelta(days=1)
        until = dt.datetime(today.year, today.month, today.day, tzinfo=dt.UTC)
    if params.get("since"):
        since = _timestamp("since", params["since"])
    else:
        since = until - dt.timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise ParamError("since", f"must be before until ({since.isoformat()} >= {until.isoformat()})")
    if until - since > dt.timedelta(days=MAX_DAYS):
        raise ParamError("since", f"range longer than {MAX_DAYS} days")
    ecosystem = params.get("ecosystem") or None
    if ecosystem is not None:
        ecosystem = parse_choice(params, "ecosystem", ECOSYSTEMS, None)
    project = params.get("project")
    if project is not None:
        if project == "":
            project = None
        elif ecosystem == "oci" or (ecosystem is None and "/" in project and not project.startswith("@")):
            # An image repository (`acme/app`): lower case, as the gateway stores it.
            if not _PATH_NAME_RE.fullmatch(project):
                raise ParamError("project", f"not a valid project name: {project[:_MAX_TEXT]!r}")
            project = project.lower()
        elif not _NAME_RE.fullmatch(project):
            raise ParamError("project", f"not a valid project name: {project[:_MAX_TEXT]!r}")
        elif ecosystem in (None, "python") and not project.startswith("@"):
            # Python names are stored PEP 503-normalised; npm's, conda's and files' as spelled.
            project = str(canonicalize_name(project))
    return Query(since=since, until=until, project=project, ecosystem=ecosystem)


def parse_int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter in [low, high]; raises ParamError on anything else."""
    text = params.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text):
        raise ParamError(name, f"expected an integer {low}..{high}, got {text[:_MAX_TEXT]!r}")
    value = int(text)
    if not low <= value <= high:
        raise ParamError(name, f"expected an integer {low}..{high}, got {value}")
    return value


def parse_choice(params: Mapping[str, str], name: str, choices: Sequence[str], default: str | None) -> str:
    """One of `choices` (required when `default` is None); raises ParamError on anything else."""
    text = params.get(name)
    if text is None or text == "":
        if default is None:
            raise ParamError(name, f"required; one of {', '.join(choices)}")
        return default
    if text not in choices:
        raise ParamError(name, f"expected one of {', '.join(choices)}, got {text[:_MAX_TEXT]!r}")
    return text


def parse_bool(params: Mapping[str, str], name: str) -> bool:
    """`true`/`1`/`yes` or `false`/`0`/`no` (absent: false); raises ParamError on anything else."""
    text = params.get(name, "false").lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ParamError(name, f"expected true or false, got {text[:_MAX_TEXT]!r}")
