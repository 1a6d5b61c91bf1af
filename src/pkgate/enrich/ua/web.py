"""Browsers, crawlers and monitoring bots: traffic that is not an install at all.

A `Mozilla/...` UA is a browser unless its text names a crawler; the browser is picked by
precedence because every Chromium derivative also claims Chrome and Safari.
"""

from __future__ import annotations

import re
from typing import Final

from pkgate.enrich.ua.model import Handler, UserAgent, clean

#: Product token -> (rank, token, name, category): a lower rank wins, since every Chromium derivative
#: also claims Chrome and Safari, and Safari's own version is in its `Version/` token.
_PRODUCTS: Final = {
    product: (rank, product, name, category)
    for rank, (product, name, category) in enumerate(
        (
            ("WindowsPowerShell", "powershell", "script"),
            ("PowerShell", "powershell", "script"),
            ("Edg", "edge", "browser"),
            ("EdgA", "edge", "browser"),
            ("EdgiOS", "edge", "browser"),
            ("Edge", "edge", "browser"),
            ("OPR", "opera", "browser"),
            ("YaBrowser", "yandex", "browser"),
            ("SamsungBrowser", "samsung", "browser"),
            ("Vivaldi", "vivaldi", "browser"),
            ("UCBrowser", "ucbrowser", "browser"),
            ("Firefox", "firefox", "browser"),
            ("FxiOS", "firefox", "browser"),
            ("CriOS", "chrome", "browser"),
            ("Chromium", "chromium", "browser"),
            ("Chrome", "chrome", "browser"),
            ("Opera", "opera", "browser"),
            ("Safari", "safari", "browser"),
        )
    )
}
_MSIE: Final = re.compile(r"MSIE ([\d.]+)")


#: Words that give a crawler/monitor away, looked for in the lowercased UA with `str.find`
#: (linear time, and no backtracking over the long word runs hostile UAs are made of).
_BOT_WORDS: Final = (
    "bot",
    "crawl",
    "spider",
    "slurp",
    "headless",
    "externalhit",
    "preview",
    "checker",
    "scanner",
    "archiver",
    "monitor",
    "fetcher",
)
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-!")
_VERSION_CHARS: Final = frozenset("0123456789.")
_PLATFORM: Final = re.compile(
    r"Windows NT (\d+\.\d+)|Mac OS X (\d+(?:[._]\d+)*)|(?:iPhone|CPU) OS (\d+(?:_\d+)*)"
    r"|Android (\d+(?:\.\d+)*)|(CrOS)|(Linux)(?![^)]*Android)"
)


#: (system, system_release, distro, distro_version) from a browser's platform comment.
_Platform = tuple[str | None, str | None, str | None, str | None]
_NO_PLATFORM: Final[_Platform] = (None, None, None, None)


def _platform(comment: str) -> _Platform:
    m = _PLATFORM.search(comment)
    if m is None:
        return _NO_PLATFORM
    if m[1]:
        return ("Windows", m[1], None, None)
    if m[2]:
        return ("Darwin", None, "macOS", m[2].replace("_", "."))
    if m[3]:
        return ("iOS", None, "iOS", m[3].replace("_", "."))
    if m[4]:
        return ("Android", None, "Android", m[4])
    if m[5]:
        return ("Linux", None, "ChromeOS", None)
    return ("Linux", None, None, None)


def _browser(category: str, name: str | None, version: str | None, plat: _Platform) -> UserAgent:
    system, release, distro, distro_version = plat
    return UserAgent(
        category,
        name,
        version,
        system=system,
        system_release=release,
        distro=distro,
        distro_version=distro_version,
    )


def bot(s: str) -> UserAgent | None:
    """A crawler/monitor named anywhere in the UA, or one that gives a contact URL."""
    low = s.lower()
    for word in _BOT_WORDS:
        start = low.find(word)
        if start >= 0:
            break
    if start >= 0:
        end, size = start + len(word), len(low)
        while start > 0 and low[start - 1] in _WORD_CHARS:
            start -= 1
        while end < size and low[end] in _WORD_CHARS:
            end += 1
        stop = end + 1
        if end < size and low[end] == "/":
            while stop < size and low[stop] in _VERSION_CHARS:
                stop += 1
        name = low[start:end].split("_", 1)[0].strip(".-!")  # "pingdom.com_bot_version_1.4_"
        return UserAgent("bot", name or None, low[end + 1 : stop] or None)
    if "+http" in low or "http://" in low or "https://" in low:
        return UserAgent("bot")
    return None


def _mozilla(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    found = bot(s)
    if found is not None:
        return found
    products: dict[str, str] = {}
    for tok in rest.split():
        product, sep, ver = tok.partition("/")
        if sep and (product in _PRODUCTS or product == "Version") and product not in products:
            products[product] = ver.rstrip(";),")
    close = rest.find(")")
    plat = _platform(rest[:close]) if rest.startswith("(") and close > 0 else _NO_PLATFORM
    ranked = [_PRODUCTS[t] for t in products if t != "Version"]
    if ranked:
        _, product, canon, category = min(ranked)
        # Safari puts its own version in `Version/`; its `Safari/` token is the WebKit build.
        shown = products.get("Version") if canon == "safari" else products[product]
        return _browser(category, canon, shown, plat)
    if (m := _MSIE.search(rest)) is not None:
        return _browser("browser", "ie", m[1], plat)
    return _browser("browser", None, None, plat)


def _named(canon: str, category: str = "browser") -> Handler:
    def handler(s: str, name: str, version: str, rest: str) -> UserAgent | None:
        return UserAgent(category, canon, clean(version))

    return handler


#: First-token names of bots that do not say "bot" (or say it without a version).
BOTS: Final = {
    "facebookexternalhit": "facebookexternalhit",
    "twitterbot": "twitterbot",
    "slackbot-linkexpanding": "slackbot",
    "slackbot": "slackbot",
    "discordbot": "discordbot",
    "telegrambot": "telegrambot",
    "whatsapp": "whatsapp",
    "datadog": "datadog",
    "uptimerobot": "uptimerobot",
    "prometheus": "prometheus",
    "blackbox-exporter": "prometheus",
    "kube-probe": "kube-probe",
    "elb-healthchecker": "elb-healthchecker",
    "googlehc": "googlehc",
    "renovate": "renovate",
    "dependabot": "dependabot",
    "snyk": "snyk",
    "scrapy": "scrapy",
    "wordpress": "wordpress",
    "textualinlinemedia": "textual",
    "weechat": "weechat",
    "github-olee": "github-olee",
    "yisouspider": "yisouspider",
    "ltx71": "ltx71",
    "awsbrewlinkchecker": "awsbrewlinkchecker",
    "y!j-asr": "yahoo-japan",
    "mauibot": "mauibot",
    "inspector.pypi.io": "inspector.pypi.io",
    "libraries.io": "libraries.io",
    "nutch": "nutch",
    "zgrab": "zgrab",
    "masscan": "masscan",
    "nmap": "nmap",
    "censysinspect": "censys",
    "expanse": "expanse",
}


def _bot(s: str, name: str, version: str, rest: str) -> UserAgent | None:
    return UserAgent("bot", BOTS[name.lower()], clean(version))


HANDLERS: Final[dict[str, Handler]] = {
    "mozilla": _mozilla,
    "opera": _named("opera"),
    "safari": _named("safari"),
    "firefox": _named("firefox"),
    "lynx": _named("lynx"),
    "links": _named("links"),
    "elinks": _named("elinks"),
    "w3m": _named("w3m"),
    "ucweb": _named("ucbrowser"),
    "url": _named("emacs"),
    "androiddownloadmanager": _named("android-download-manager"),
    "com.apple.webkit.networking": _named("safari"),
    **dict.fromkeys(BOTS, _bot),
}
