"""conda-ecosystem clients: conda, mamba, micromamba, pixi and the rattler library.

Formats, from each client's published source (none of these CLIs installs offline here, so no
test drives them; the examples in tests/enrich/ua/test_conda_tools.py are the sources' own):

- conda, `Context.user_agent` in `conda/base/context.py`: `conda/<v> requests/<v> <Impl>/<py>
  <System>/<release> <distro>/<v> [<libc>/<v>] [solver/<name> <solver's own tokens>]`; the
  solver part is absent for the classic solver. The solver goes to `solver`.
- mamba and micromamba: libmamba's `Context::user_agent` default is `mamba/<libmamba version>`;
  a `micromamba/<v>` first token is read the same way. Product tokens after it are read like
  conda's.
- pixi (`pixi/<v>`, its reqwest client) and rattler's platform string that newer rattler clients
  append: `<System>/<release> [<distro>/<v>] rattler/<v>` (`rattler_networking`: `Linux/6.5.0
  Ubuntu/22.04 rattler/0.40.3`, `Darwin/25.2.0 OSX/26.2 rattler/0.40.3`). The rattler version
  goes to `implementation` (as npm's node does).
- py-rattler (`py-rattler/<v>` when given a client) and rattler-build (`rattler-build/<v>`).
"""

from __future__ import annotations

from typing import Final

import msgspec

from pkgate.enrich.ua.model import Handler, UserAgent, clean
from pkgate.enrich.ua.tokens import DISTROS, SYSTEMS, system_name, tool

#: First token -> installer name.
_RATTLER: Final = {
    "pixi": "pixi",
    "py-rattler": "py-rattler",
    "rattler-build": "rattler-build",
    "rattler": "rattler",
}


def _conda(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
    if not version:
        return None
    base = tool("installer", first.lower(), version, rest)
    at = rest.find("solver/")
    if at < 0 or (at > 0 and rest[at - 1] != " "):
        return base
    solver = clean(rest[at + 7 :].split(" ", 1)[0])
    return msgspec.structs.replace(base, solver=solver)


def _rattler(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
    """pixi, py-rattler, rattler-build: the tool, then rattler's platform string if present."""
    if not version:
        return None
    name = _RATTLER[first.lower()]
    system = release = distro = distro_v = impl_v = None
    body = rest
    if name == "rattler":  # the platform string alone: the version is the first token's
        impl_v = clean(version)
    else:
        at = body.rfind("rattler/")
        if at >= 0 and (at == 0 or body[at - 1] == " "):
            impl_v = clean(body[at + 8 :].split(" ", 1)[0])
            body = body[:at]
    head, _, middle = body.strip().partition(" ")
    key, sep, value = head.partition("/")
    if sep and key.lower() in SYSTEMS:
        system, release = system_name(key), clean(value)
        d_name, sep, d_version = middle.strip().rpartition("/")
        if sep and d_name:
            distro, distro_v = DISTROS.get(d_name.lower(), d_name), clean(d_version)
    return UserAgent(
        "installer",
        name,
        clean(version),
        implementation="rattler" if impl_v else None,
        implementation_version=impl_v,
        system=system,
        system_release=release,
        distro=distro,
        distro_version=distro_v,
    )


HANDLERS: Final[dict[str, Handler]] = {
    "conda": _conda,
    "mamba": _conda,
    "micromamba": _conda,
    **dict.fromkeys(_RATTLER, _rattler),
}
