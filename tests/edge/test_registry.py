"""The set of ecosystems one config builds: path claims are checked, dispatch takes the longest."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from pkgate.edge.answers import text
from pkgate.edge.ecosystem import OTHER, Answer, Facts, Paths, Request
from pkgate.edge.failover import UpstreamHandle
from pkgate.edge.registry import MODULES, Ecosystems
from pkgate.errors import ConfigError


@dataclass
class Fake:
    name: str
    paths: Paths

    @property
    def upstreams(self) -> Mapping[str, UpstreamHandle[Any]]:
        return {}

    async def handle(self, request: Request, facts: Facts) -> Answer:
        return Answer(text(404, self.name), OTHER)


def test_dispatch_exact_then_longest_prefix() -> None:
    a = Fake("a", Paths(exact=("/",), prefixes=("/x/",)))
    b = Fake("b", Paths(prefixes=("/x/y/", "/z")))
    ecos = Ecosystems([a, b])
    assert ecos.find("/") is a
    assert ecos.find("/x/1") is a
    assert ecos.find("/x/y/1") is b
    assert ecos.find("/zz") is b
    assert ecos.find("/q") is None
    assert ecos.find("/x") is None
    assert ecos["b"] is b
    catch_all = Fake("c", Paths(prefixes=("/",)))  # e.g. npm's packuments at the root
    ecos = Ecosystems([a, catch_all])
    assert ecos.find("/x/1") is a
    assert ecos.find("/left-pad") is catch_all


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (Paths(prefixes=("/x/",)), "both claim the path '/x/'"),
        (Paths(exact=("/e",)), "both claim the path '/e'"),
        (Paths(prefixes=("/metrics",)), "is the gateway's own"),
        (Paths(exact=("/healthz",)), "is the gateway's own"),
        (Paths(prefixes=("/admin/reload",)), "is the gateway's own"),
        (Paths(prefixes=("x/",)), "must start with '/'"),
    ],
)
def test_conflicting_claims_are_refused(paths: Paths, message: str) -> None:
    first = Fake("first", Paths(exact=("/e",), prefixes=("/x/",)))
    with pytest.raises(ConfigError, match=message):
        Ecosystems([first, Fake("second", paths)])


def test_python_is_registered() -> None:
    assert MODULES[0].name == "python"
