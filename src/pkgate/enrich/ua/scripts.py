"""HTTP libraries and command-line downloaders: someone's script, CI job or `curl | sh`.

They say little about the Python environment, but which library a scraper uses and the old
setuptools/distribute `Python-urllib` forms (real installs, pre-pip 1.4) are worth keeping.
"""

from __future__ import annotations

from typing import Final

from pkgate.enrich.ua.model import Handler, UserAgent, clean
from pkgate.enrich.ua.tokens import tool

#: Lowercase first-token name -> normalised library/tool name.
SCRIPTS: Final = {
    "python-requests": "requests",
    "requests": "requests",
    "python-httpx": "httpx",
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "urllib3": "urllib3",
    "pycurl": "pycurl",
    "httpie": "httpie",
    "pypi-simple": "pypi-simple",
    "pip-audit": "pip-audit",
    "safety": "safety",
    "twisted": "twisted",
    "tornado": "tornado",
    "curl": "curl",
    "wget": "wget",
    "wget2": "wget",
    "aria2": "aria2",
    "go-http-client": "go-http-client",
    "java": "java",
    "apache-httpclient": "apache-httpclient",
    "okhttp": "okhttp",
    "node-fetch": "node-fetch",
    "node": "node",
    "undici": "undici",
    "axios": "axios",
    "got": "got",
    "deno": "deno",
    "bun": "bun",
    "libwww-perl": "libwww-perl",
    "lwp-request": "libwww-perl",
    "ruby": "ruby",
    "faraday": "faraday",
    "reqwest": "reqwest",
    "postmanruntime": "postman",
    "insomnia": "insomnia",
    "dart": "dart",
    "dalvik": "dalvik",
    "powershell": "powershell",
    "windowspowershell": "powershell",
    "microsoft-cryptoapi": "cryptoapi",
    "chef": "chef",
    "salt": "salt",
    "ansible-httpget": "ansible",
    "apache": "ant",
    "fdm": "fdm",
    "download": "download-master",
    "nsis_inetc": "nsis",
    "spectool": "spectool",
    "go": "go-http-client",
}


def _script(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    canon = SCRIPTS[name.lower()]
    if canon == "curl" and " Nix/" in s:
        ver = s[s.find(" Nix/") + 5 :].split(" ", 1)[0]
        return UserAgent("installer", "nix", clean(ver))
    if canon == "ant" and not rest.startswith("Ant/"):
        return None
    if canon == "download-master" and not rest.startswith("Master"):
        return None
    return tool("script", canon, version, rest)


def _urllib(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    """`Python-urllib/x.y`, alone (pip < 1.4, scripts) or with setuptools/distribute after it."""
    python = clean(version)
    for tok in rest.split():
        key, _, ver = tok.partition("/")
        low = key.lower()
        if low in ("setuptools", "distribute"):
            return UserAgent("installer", low, clean(ver), python=python)
    return UserAgent("script", "urllib", python, python=python)


def _python(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    """`Python/3.11 aiohttp/3.9.1`: the library comes second."""
    lib, _, ver = rest.partition(" ")[0].partition("/")
    return UserAgent("script", lib.lower() or "python", clean(ver) if lib else None, python=clean(version))


HANDLERS: Final[dict[str, Handler]] = {
    **dict.fromkeys(SCRIPTS, _script),
    "python-urllib": _urllib,
    "python": _python,
}
