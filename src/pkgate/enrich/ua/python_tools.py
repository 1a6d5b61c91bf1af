"""Python installers and build/publish tools that do not send the JSON blob (or predate it).

pip 1.4-5 said `pip/ver Impl/ver System/release`; poetry, pdm, twine and many more use
the same product-token style, so most entries here are one line over `tokens.tool`.
The JSON forms (pip >= 6, uv, Hatch) never reach this module: the dispatcher decodes them first.
conda, mamba, micromamba, pixi and rattler are read by `conda_tools`.
"""

from __future__ import annotations

from typing import Final

from pkgate.enrich.ua.model import Handler, UserAgent
from pkgate.enrich.ua.tokens import tool

#: Lowercase first-token name -> normalised installer name, for tools read by `tokens.tool`.
TOOLS: Final = {
    "pip": "pip",
    "uv": "uv",
    "poetry": "poetry",
    "pdm": "pdm",
    "pipenv": "pipenv",
    "hatch": "hatch",
    "rye": "rye",
    "pipx": "pipx",
    "twine": "twine",
    "pex": "pex",
    "maturin": "maturin",
    "flit": "flit",
    "pip-tools": "pip-tools",
    "zc.buildout": "buildout",
    "buildout": "buildout",
    "easy_install": "setuptools",
    "setuptools": "setuptools",
    "distribute": "distribute",
    "pyodide": "pyodide",
    "micropip": "micropip",
    "pdm-backend": "pdm",
    "poetry-core": "poetry",
    "pipx-in-pipx": "pipx",
}


def _urllib_python(rest: str) -> str | None:
    """The Python version in a `Python-urllib/x.y` token, which old setuptools appended."""
    at = rest.find("Python-urllib/")
    if at < 0:
        return None
    return rest[at + 14 :].split(" ", 1)[0] or None


def _tool(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    canon = TOOLS[name.lower()]
    if canon == "pip" and not version:
        return None  # "pip" alone is not a pip request (pip always sends a version)
    python = _urllib_python(rest) if canon in ("setuptools", "distribute") else None
    return tool("installer", canon, version, rest, python)


HANDLERS: Final[dict[str, Handler]] = dict.fromkeys(TOOLS, _tool)
