"""One spec per insight: the CLI, the API, OpenAPI and the dashboard agree with it and each other."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import typer.main

from pkgate.cli import app
from pkgate.insights.params import ParamError
from pkgate.insights.registry import INSIGHTS, by_name, by_topic
from pkgate.insights.spec import COMMON, Param, choice
from pkgate.web.openapi import openapi_document
from tests.insights.data import ALL, build

DASHBOARD = Path(__file__).resolve().parents[2] / "src" / "pkgate" / "web" / "dashboard" / "app.js"


def _report_command() -> Any:
    group = typer.main.get_group(app)
    return group.commands["report"]


def test_cli_options_are_the_specs_parameters() -> None:
    cmd = _report_command()
    options = {o for p in cmd.params for o in getattr(p, "opts", [])}
    for i in INSIGHTS:
        for p in i.params:
            assert p.option in options, (i.name, p.name)
        assert by_topic(i.topic) is i
        assert by_topic(i.name) is i
    expected = {"--since", "--until", "--project", "--ecosystem", "--format", "--output", "--config"}
    expected |= {p.option for i in INSIGHTS for p in i.params}
    assert {o for o in options if o.startswith("--")} == expected
    topic_arg = next(p for p in cmd.params if p.name == "topic")
    for i in INSIGHTS:
        assert i.topic in str(topic_arg.help)


def test_openapi_is_the_specs() -> None:
    doc = openapi_document(INSIGHTS)
    assert sorted(doc["paths"]) == sorted(f"/api/{i.name}" for i in INSIGHTS)
    for i in INSIGHTS:
        op = doc["paths"][f"/api/{i.name}"]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        assert set(params) == set(COMMON) | {p.name for p in i.params}
        for p in i.params:
            assert params[p.name]["schema"] == p.schema()
            assert params[p.name]["required"] == p.required
        row = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["rows"]["items"]
        name = row["$ref"].rsplit("/", 1)[1]
        assert set(doc["components"]["schemas"][name]["properties"]) == set(i.columns)


def test_the_dashboard_calls_only_declared_insights_and_parameters() -> None:
    """Every `api("name", {...})` in app.js names an insight, with keys it declares."""
    js = DASHBOARD.read_text()
    calls = re.findall(r'\bapi\("([a-z_]+)"', js)
    assert calls, "the dashboard makes no API calls?"
    for name in calls:
        assert by_name(name) is not None, name
    for name, body in re.findall(r'api\("([a-z_]+)", \{([^}]*)\}', js):
        insight = by_name(name)
        assert insight is not None
        keys = {part.strip().split(":")[0].strip() for part in body.split(",")}
        keys = {k for k in keys if k and not k.startswith("...")}
        assert keys <= {p.name for p in insight.params} | set(COMMON), (name, keys)


@pytest.mark.parametrize("insight", INSIGHTS, ids=lambda i: i.name)
def test_every_insight_runs_on_its_defaults(insight: Any) -> None:
    text = {p.name: str(p.choices[0]) for p in insight.params if p.required}
    rows = insight(build("rolled"), ALL, text)
    assert rows
    assert all(isinstance(r, insight.row) for r in rows)
    assert insight.columns == list(msgspec.structs.asdict(rows[0]))


def test_parameters_parse_with_their_bounds() -> None:
    top = next(p for p in by_name("heavy_hitters").params if p.name == "top")  # type: ignore[union-attr]
    assert top.parse({}) == 20
    assert top.parse({"top": "1000"}) == 1000
    with pytest.raises(ParamError, match=r"^top: expected an integer 1\.\.1000, got 1001"):
        top.parse({"top": "1001"})
    over = Param(name="over_time", help="x", kind="bool", default=False)
    assert over.parse({"over_time": "yes"}) is True
    with pytest.raises(ValueError, match="not a choice"):
        choice("period", "x", ("day",), "week")
