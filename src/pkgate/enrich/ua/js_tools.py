"""JavaScript package managers: npm, pnpm, yarn (classic and berry) and bun.

npm, pnpm and yarn classic follow npm's template `<tool>/<v> npm/<v|?> node/<v> <platform> <arch>
[workspaces/<bool>] [ci/<name>]` (npm's own `{ci}` placeholder becomes `ci/<provider>` when it
detects one and nothing otherwise). Platform and arch are Node's `process.platform`/`process.arch`,
normalised to the spellings pip's JSON uses so one report covers both ecosystems. `bun install`
sends `Bun/<v>` alone. Yarn 2+ (berry) never names itself: its HTTP library's default User-Agent
is all it sends (see `GOT_DEFAULT`).
"""

from __future__ import annotations

from typing import Final

from pkgate.enrich.ua import scripts
from pkgate.enrich.ua.model import Handler, UserAgent, clean
from pkgate.enrich.ua.tokens import system_name

#: Node's `process.arch` -> `platform.machine()`-style names.
_ARCH: Final = {"x64": "x86_64", "ia32": "i686", "arm64": "arm64", "arm": "armv7l", "ppc64": "ppc64le"}
_PLATFORMS: Final = frozenset({"linux", "darwin", "win32", "freebsd", "openbsd", "sunos", "aix", "android"})


def _js(name: str) -> Handler:
    def handler(whole: str, _first: str, version: str, rest: str) -> UserAgent | None:
        if not version:
            return None
        node = platform = arch = None
        ci: bool | None = None
        ci_name: str | None = None
        toks = rest.split()
        for i, tok in enumerate(toks):
            key, sep, value = tok.partition("/")
            low = key.lower()
            if sep and low == "node":
                node = clean(value.removeprefix("v"))
            elif sep and low == "ci":
                ci_name = clean(value)
                ci = ci_name is not None and value.lower() != "false"
            elif not sep and low in _PLATFORMS and platform is None:
                platform = low
                if i + 1 < len(toks) and "/" not in toks[i + 1]:
                    arch = toks[i + 1]
        if ci is None and name == "npm" and node is not None:
            ci = False  # npm states its CI detection: no `ci/` token means none was found
        return UserAgent(
            "installer",
            name,
            clean(version),
            implementation="node" if node else None,
            implementation_version=node,
            system=system_name(platform) if platform else None,
            cpu=_ARCH.get(arch, arch) if arch else None,
            ci=ci,
            ci_provider=ci_name if ci else None,
        )

    return handler


def _bun(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
    """`Bun/1.1.30` (bun install) or npm's template with `bun/`: the installer either way."""
    if not version:
        return None
    if rest:
        return _js("bun")(whole, first, version, rest)
    return UserAgent("installer", "bun", clean(version))


#: What yarn 2+ (berry) sends on every registry request: `got`'s default User-Agent, no version,
#: nothing after (read in @yarnpkg/cli-dist 3.0.0, 3.8.0, 4.5.1 and seen from 4.18.1). Exactly this
#: string is counted as yarn without a version (yarn classic always states 1.x); a script using
#: got with its default header is counted with it, and any other got header stays a script.
GOT_DEFAULT: Final = "got (https://github.com/sindresorhus/got)"


def _got(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
    if whole == GOT_DEFAULT:
        return UserAgent("installer", "yarn", implementation="node")
    return scripts.HANDLERS["got"](whole, first, version, rest)


HANDLERS: Final[dict[str, Handler]] = {
    "got": _got,
    "npm": _js("npm"),
    "pnpm": _js("pnpm"),
    "yarn": _js("yarn"),
    "bun": _bun,
}
