"""Routing rules: exact names beat patterns, patterns go in file order, everything normalised."""

from __future__ import annotations

import fnmatch
import json

from hypothesis import given
from hypothesis import strategies as st

from pkgate import config
from pkgate.edge.names import normalize
from pkgate.edge.routing import Router, normalize_pattern

UPSTREAMS = "".join(
    f'[upstreams.{n}]\nurl = "http://{n}.test/simple/"\n' for n in ("pypi", "private", "mirror")
)


def make(rules: list[tuple[list[str], list[str]]], default: str = "pypi", merge: bool = False) -> Router:
    text = UPSTREAMS + f'[gateway]\ndefault_upstream = "{default}"\n'
    for projects, ups in rules:
        text += f"[[routing.rules]]\nprojects = {json.dumps(projects)}\nupstreams = {json.dumps(ups)}\n"
        if merge:
            text += "merge = true\n"
    return Router(config.parse(text, "test.toml", env={}))


def test_exact_beats_pattern_and_patterns_keep_file_order() -> None:
    r = make([(["acme-*"], ["private"]), (["acme-public"], ["pypi"]), (["acme-*-tools", "a?c"], ["mirror"])])
    assert r.route("acme-lib").upstreams == ("private",)  # type: ignore[union-attr]
    assert r.route("acme-public").upstreams == ("pypi",)  # type: ignore[union-attr]
    assert r.route("acme-x-tools").upstreams == ("private",)  # type: ignore[union-attr]  # first pattern wins
    assert r.route("abc").upstreams == ("mirror",)  # type: ignore[union-attr]
    assert r.route("six").upstreams == ("pypi",)  # type: ignore[union-attr]
    assert r.route("six") is r.default
    assert r.upstream_names() == ["private", "pypi", "mirror"]


def test_names_and_patterns_are_normalised() -> None:
    r = make([(["Acme_Lib", "Corp.*"], ["private"])])
    assert r.route(normalize("acme.lib")).upstreams == ("private",)  # type: ignore[union-attr]
    assert r.route(normalize("corp__thing")).upstreams == ("private",)  # type: ignore[union-attr]
    assert normalize_pattern("Corp._*") == "corp-*"


def test_no_default_means_no_route() -> None:
    r = make([(["acme-*"], ["private", "mirror"])], default="")
    assert r.route("six") is None
    route = r.route("acme-x")
    assert route is not None
    assert route.upstreams == ("private", "mirror")
    assert route.rule == 0


def test_memo_is_bounded_and_consistent() -> None:
    r = make([(["acme-*"], ["private"])])
    for i in range(60_000):
        r.route(f"p{i}")
    assert len(r._memo) <= 50_000
    assert r.route("acme-1") is r.lookup("acme-1")


names = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
patterns = st.from_regex(r"[a-z0-9*?-]{1,8}", fullmatch=True)


@given(st.lists(patterns, min_size=1, max_size=6, unique=True), names)
def test_route_matches_fnmatch_first_pattern(pats: list[str], name: str) -> None:
    """Property: the route is the first pattern (in order) that fnmatch says matches, else default."""
    pats = list(dict.fromkeys(normalize_pattern(p) for p in pats))
    globs = [p for p in pats if "*" in p or "?" in p]
    exact = [p for p in pats if p not in globs]
    r = make([([p], ["private" if i % 2 else "mirror"]) for i, p in enumerate(pats)])
    got = r.route(name)
    assert got is not None
    if name in exact:
        expected = pats.index(name)
    else:
        expected = next((pats.index(p) for p in globs if fnmatch.fnmatchcase(name, p)), None)  # type: ignore[assignment]
    assert got.rule == expected


def test_each_ecosystem_routes_only_its_own_rules() -> None:
    cfg = config.parse(
        UPSTREAMS
        + '[upstreams.npmjs]\nurl = "http://npm.test/"\necosystem = "npm"\n'
        + '[upstreams.acme-npm]\nurl = "http://acme.test/"\necosystem = "npm"\n'
        + '[npm]\ndefault_upstream = "npmjs"\n'
        + '[[routing.rules]]\necosystem = "npm"\nprojects = ["@ACME/*"]\nupstreams = ["acme-npm"]\n'
        + '[[routing.rules]]\nprojects = ["acme_*"]\nupstreams = ["private"]\n',
        "test.toml",
        env={},
    )
    npm, python = Router(cfg, "npm"), Router(cfg)
    assert npm.route("@acme/widgets").upstreams == ("acme-npm",)  # type: ignore[union-attr]
    assert npm.route("acme-lib") is npm.default  # Python's rule is not npm's
    assert npm.default is not None
    assert npm.default.upstreams == ("npmjs",)
    assert python.route("acme-lib").upstreams == ("private",)  # type: ignore[union-attr]
    assert python.route("@acme/widgets") is python.default
    assert Router(cfg, "oci").route("library/alpine") is None  # no default, no rule: not served
