"""Property: whatever text a config file or environment holds, `load` returns or raises ConfigError."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate import config
from pkgate.errors import ConfigError

KEYS = ["server", "gateway", "storage", "privacy", "upstreams", "routes", "x"]
VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=20),
    st.lists(st.text(max_size=8), max_size=3),
)


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(KEYS), st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=15), VALUES
        ),
        max_size=6,
    )
)
def test_structured_garbage(entries: list[tuple[str, str, object]]) -> None:
    text = "\n".join(f"[{section}]\n{key} = {toml_value(value)}" for section, key, value in entries)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_text(text)
        try:
            config.load(path, env={})
        except ConfigError as exc:
            message = str(exc)
        else:
            return
    assert str(path) in message  # every error names the file


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        with contextlib.suppress(ConfigError):
            config.load(path, env={})


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=30).map(lambda s: "PKGATE_" + s),
        st.text(max_size=30),
        max_size=4,
    )
)
def test_arbitrary_environment(env: dict[str, str]) -> None:
    with contextlib.suppress(ConfigError):
        config.load(None, env=env)
