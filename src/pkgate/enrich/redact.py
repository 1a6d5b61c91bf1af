"""Addresses written into text a client sends: IP literals in a User-Agent or path are redacted.

The peer address is dropped after enrichment, but a client (or a proxy, a CI runner) may put an
address into what it sends: `curl/8 (10.1.2.3)`, `/simple/10.1.2.3/`. Those strings are stored, so
any valid IPv4 or IPv6 literal in them becomes `[ip]` before the event is built. Candidates are
found by a cheap pattern and confirmed with `ipaddress`, so versions like `3.11.7` or times like
`12:30:45` stay as they are.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final

__all__ = ["REDACTED", "redact_ips"]

REDACTED: Final = "[ip]"
_CANDIDATE: Final = re.compile(
    r"(?<![0-9A-Za-z.:])"
    r"(?:[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3})?(?![0-9A-Za-z.:])"
    r"|(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9A-Za-z.]))"  # IPv4, also before a :port
)
_QUICK: Final = re.compile(r"[0-9]\.[0-9]+\.[0-9]+\.[0-9]|:[0-9A-Fa-f]*:")
#: Results for recent strings: a gateway sees the same few User-Agents and paths again and again.
_MEMO_MAX: Final = 16_384
_memo: dict[str, str] = {}


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text
    return REDACTED


def redact_ips(text: str) -> str:
    """`text` with every IP address literal replaced by `[ip]` (unchanged without any)."""
    done = _memo.get(text)
    if done is None:
        done = _CANDIDATE.sub(_replace, text) if _QUICK.search(text) else text
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[text] = done
    return done
