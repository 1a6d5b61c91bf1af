"""Addresses written into text a client sends: IP literals in a User-Agent or path are redacted.

The peer address is dropped after enrichment, but a client (or a proxy, a CI runner) may put an
address into what it sends: `curl/8 (10.1.2.3)`, `/simple/10.1.2.3/`. Those strings are stored, so
any valid IPv4 or IPv6 literal in them becomes `[ip]` before the event is built. Candidates are
found by a cheap pattern and confirmed with `ipaddress`. Version numbers that look like addresses
are kept: a dotted quad glued to letters, or followed by `-`, `+` or `_` (`5.10.16.3-microsoft`,
a WSL kernel in pip's User-Agent), and in a User-Agent one right after `/` (`Chrome/120.0.0.0`).

conda (and rattler) clients with anaconda-anon-usage append `aau/<v>` and then one-letter tokens:
`c/` a client id kept in the user's home, `s/` a session, `e/` an environment id, and on some
installs `u/` the user name, `h/` the host name, `o/`, `m/`, `a/` organisation, machine and account
tokens. Those are persistent identifiers (some plainly personal): in a User-Agent, every one-letter
token after `aau/` keeps its letter and loses its value (`c/[id]`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

__all__ = ["REDACTED", "REDACTED_ID", "redact_ips", "redact_ua"]

REDACTED: Final = "[ip]"
REDACTED_ID: Final = "[id]"
_V6: Final = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![0-9A-Za-z.:])"
_V4: Final = r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z.+_-])"  # also before a :port
_IN_PATH: Final = re.compile(rf"(?<![0-9A-Za-z.:])(?:{_V6}|{_V4})")
_IN_UA: Final = re.compile(rf"(?<![0-9A-Za-z.:])(?:{_V6}|(?<!/){_V4})")
_QUICK: Final = re.compile(r"[0-9]\.[0-9]+\.[0-9]+\.[0-9]|:[0-9A-Fa-f]*:")
_AAU: Final = re.compile(r"(?:^|\s)aau/")
#: anaconda-anon-usage's tokens: one letter, a slash, a value, each after a space.
_AAU_TOKEN: Final = re.compile(r"(?<=\s)([A-Za-z])/\S+")
#: Results for recent strings: a gateway sees the same few User-Agents and paths again and again.
_MEMO_MAX: Final = 16_384
_memo: dict[tuple[str, bool], str] = {}


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return REDACTED


def _redact(text: str, ua: bool) -> str:
    key = (text, ua)
    done = _memo.get(key)
    if done is None:
        done = (_IN_UA if ua else _IN_PATH).sub(_replace, text) if _QUICK.search(text) else text
        if ua and "aau/" in done:
            done = _anon_usage(done)
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[key] = done
    return done


def _anon_usage(text: str) -> str:
    m = _AAU.search(text)
    if m is None:
        return text
    return text[: m.end()] + _AAU_TOKEN.sub(rf"\1/{REDACTED_ID}", text[m.end() :])


def redact_ips(text: str) -> str:
    """A path (or any text) with every IP address literal replaced by `[ip]`."""
    return _redact(text, False)


def redact_ua(text: str) -> str:
    """A User-Agent with its IP address literals and anon-usage tokens replaced, product versions
    (`x/1.2.3.4`) kept."""
    return _redact(text, True)
