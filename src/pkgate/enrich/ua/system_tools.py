"""Non-Python installers that fetch from Python indexes: Homebrew, Bazel, OS package builders.

linehaul lumped the OS ports tools together as "OS"; they are kept apart here (`OS_TOOLS` says
which ones linehaul meant) because which distribution repackages a project is worth knowing.
"""

from __future__ import annotations

import re
from typing import Final

from pkgate.enrich.ua.model import Handler, UserAgent, clean

#: Names this module gives to the tools linehaul reported as installer "OS".
OS_TOOLS: Final = frozenset(
    {
        "libfetch",
        "openbsd-ftp",
        "macports",
        "netbsd-ftp",
        "slapt-get",
        "pypi-install",
        "slackrepo",
        "ptxdist",
        "garstow",
        "xbps",
    }
)

_HB_MAC: Final = re.compile(r"\(Macintosh; (\w+) (?:Mac OS X|macOS) ([\w.]+)\)")
_HB_LINUX: Final = re.compile(r"\(Linux; (\w+) ([A-Za-z][^)\d]*?)\s*([\d.]+)?(?: LTS)?\)")
_CPUS: Final = {"intel": "x86_64"}


def _homebrew(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    if (m := _HB_MAC.search(rest)) is not None:
        return UserAgent(
            "installer",
            "homebrew",
            clean(version),
            system="Darwin",
            distro="macOS",
            distro_version=m[2],
            cpu=_CPUS.get(m[1].lower(), m[1]),
        )
    if (m := _HB_LINUX.search(rest)) is not None:
        return UserAgent(
            "installer",
            "homebrew",
            clean(version),
            system="Linux",
            distro=m[2] or None,
            distro_version=m[3],
            cpu=m[1],
        )
    return UserAgent("installer", "homebrew", clean(version))


def _bazel(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    full = s[len(name) + 1 :].strip()
    if full.startswith("release "):
        full = full[8:].strip()
    return UserAgent("installer", "bazel", full or None)


def _named(canon: str, category: str = "installer") -> Handler:
    def handler(s: str, name: str, version: str, rest: str) -> UserAgent | None:
        return UserAgent(category, canon, clean(version))

    return handler


def _first_word(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    """Tools whose UA starts with a vendor word: `fetch libfetch/2.0`, `Debian uscan/2.22`."""
    low = name.lower()
    word, _, ver = rest.partition(" ")[0].partition("/")
    word = word.lower()
    if low == "fetch" and word == "libfetch":
        return UserAgent("installer", "libfetch", clean(ver))
    if low == "openbsd" and word == "ftp":
        return UserAgent("installer", "openbsd-ftp")
    if low == "debian" and word == "uscan":
        return UserAgent("bot", "uscan", clean(ver))
    if low == "debian" and word == "apt-http":
        return UserAgent("installer", "apt", clean(ver))
    if low == "gnu" and word == "guile":
        return UserAgent("script", "guile")
    return None


HANDLERS: Final[dict[str, Handler]] = {
    "homebrew": _homebrew,
    "linuxbrew": _homebrew,
    "bazel": _bazel,
    "fetch": _first_word,
    "openbsd": _first_word,
    "debian": _first_word,
    "gnu": _first_word,
    "libfetch": _named("libfetch"),
    "macports": _named("macports"),
    "netbsd-ftp": _named("netbsd-ftp"),
    "slapt-get": _named("slapt-get"),
    "pypi-install": _named("pypi-install"),
    "slackrepo": _named("slackrepo"),
    "ptxdist": _named("ptxdist"),
    "garstow": _named("garstow"),
    "xbps": _named("xbps"),
    "spack": _named("spack"),
    "nix": _named("nix"),
    "apt-http": _named("apt"),
    "pkgsrc": _named("pkgsrc"),
}
