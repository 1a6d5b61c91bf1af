"""Hostile requests (hypothesis strategies) and the checks every answer to them must pass.

The strategies aim where a gateway breaks: paths and queries carrying URLs of a trap host (SSRF,
open redirects), percent-encoded and raw CR/LF with a marker header (header injection), signed file
links with one bit flipped, and the headers the gateway reads (`Accept`, `User-Agent`,
`If-None-Match`, `X-Forwarded-For`, `Range`) filled with junk, near-misses and addresses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote, urlsplit

from hypothesis import strategies as st

from tests.reliability.rawhttp import Outcome, RawRequest

#: A header name no server would send: its presence means a CR/LF got through into our headers.
MARKER: Final = "x-pkgate-injected"
_TOKEN_RE: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TRACEBACK_RE: Final = re.compile(rb'Traceback \(most recent call last\)|File "[^"]+", line \d+')


def hostile_fragments(trap: str) -> list[str]:
    """Path/query pieces that try to make the gateway fetch or redirect to `trap` (host:port)."""
    host = trap.rpartition(":")[0]
    return [
        f"http://{trap}/",
        f"https://{trap}/simple/",
        f"//{trap}/",
        f"/\\{trap}",
        f"@{trap}",
        f"%2F%2F{trap}%2F",
        f"http:%2F%2F{trap}",
        f"http%3A%2F%2F{trap}%2F",
        f"{host}",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "../../",
        "%00",
        "%0d%0a" + MARKER + ":%201",
        "%0a" + MARKER + ":%201",
        "%E5%98%8A%E5%98%8D" + MARKER + ":1",  # UTF-8 sequences some decoders fold to CR/LF
        "%C0%AE%C0%AE%2F",
        "%25",
        "%",
        "%zz",
        "?format=application/vnd.pypi.simple.v1+json",
        "\u2028".encode().decode("latin-1"),
        "A" * 3000,
    ]


def _percent(text: str) -> str:
    return quote(text, safe="/%:@?&=+~!$'()*,;")


def _latin1(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


_PRINTABLE: Final = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
_ANY_TEXT: Final = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


def header_value() -> st.SearchStrategy[bytes]:
    """Header values a client can put on the wire (no CR/LF/NUL; obs-text allowed)."""
    return st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
    ).map(lambda s: s.encode("latin-1")) | _ANY_TEXT.map(
        lambda s: s.replace("\r", "").replace("\n", "").replace("\0", "").encode()
    )


@dataclass
class Corpus:
    """What the strategies mutate: real gateway paths, real ETags, and the trap to aim at."""

    trap: str
    index_paths: list[str]
    file_links: list[str]
    etags: list[str]
    projects: list[str]
    fragments: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.fragments = hostile_fragments(self.trap)


def _flip_bit(path: str, where: int, bit: int) -> bytes:
    raw = bytearray(path.encode())
    raw[where % len(raw)] ^= 1 << (bit % 8)
    return bytes(raw)


def requests(c: Corpus) -> st.SearchStrategy[RawRequest]:
    """One hostile request."""
    frag = st.sampled_from(c.fragments)
    piece = st.one_of(
        frag, _ANY_TEXT.map(_percent), st.text(_PRINTABLE, max_size=40), st.sampled_from(c.projects)
    )
    flipped = st.builds(_flip_bit, st.sampled_from(c.file_links), st.integers(0, 4096), st.integers(0, 7))
    token_swap = st.builds(
        lambda a, b: (a.rsplit("/", 2)[0] + "/" + b.rsplit("/", 2)[1] + "/" + a.rsplit("/", 1)[1]).encode(),
        st.sampled_from(c.file_links),
        st.sampled_from(c.file_links),
    )
    path = st.one_of(
        st.sampled_from(c.index_paths + c.file_links).map(str.encode),
        st.builds(
            lambda base, p: (base + p).encode("utf-8", "replace"), st.sampled_from(c.index_paths), piece
        ),
        st.builds(lambda p: ("/simple/" + p + "/").encode("utf-8", "replace"), piece),
        st.builds(lambda p, f: ("/files/" + p + "/" + f).encode("utf-8", "replace"), piece, piece),
        flipped,
        token_swap,
        st.builds(
            lambda link, extra: (link + extra).encode("utf-8", "replace"),
            st.sampled_from(c.file_links),
            st.sampled_from([".metadata", "/", "/..", "%2F..", "?x=1", "#frag", ".metadata.metadata"]),
        ),
        st.binary(max_size=60).map(lambda b: b"/" + b.replace(b" ", b"%20")),
        st.sampled_from(
            ["/", "/simple", "/healthz", "/metrics", "/admin/reload", "*", "//", "/./simple/"]
        ).map(str.encode),
    )
    query = st.one_of(
        st.just(b""),
        st.lists(
            st.tuples(
                st.sampled_from(["format", "url", "next", "redirect", "ip", "q", ""])
                | st.text(_PRINTABLE, max_size=8),
                piece,
            ),
            max_size=4,
        ).map(lambda kv: ("?" + "&".join(f"{k}={v}" for k, v in kv)).encode("utf-8", "replace")),
        frag.map(lambda f: ("?" + f).encode("utf-8", "replace")),
    )
    accept = st.one_of(
        st.sampled_from(
            [
                "application/vnd.pypi.simple.v1+json",
                "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
                "text/html",
                "*/*",
                "application/json",
                "application/vnd.pypi.simple.latest+json",
                "application/vnd.pypi.simple.v1+json;q=abc",
                "application/vnd.pypi.simple.v1+json;q=1e999, */*;q=-1",
                ",,,;;;===",
                "a/b;" + "q=0.5;" * 200,
            ]
        ),
        header_value(),
    ).map(lambda v: v if isinstance(v, bytes) else v.encode())
    user_agent = st.one_of(
        st.sampled_from(
            [
                'pip/24.0 {"ci":null,"cpu":"x86_64","installer":{"name":"pip","version":"24.0"},"python":"3.11.7"}',
                'pip/24.0 {"installer":{"name":"pip"',
                "uv/0.4.0 (127.0.0.2; 10.1.2.3)",
                'pip/24.0 {"python":' + "[" * 500 + "}",
                "curl/8.0 " + c.trap,
            ]
        ).map(str.encode),
        header_value(),
    )
    inm = st.one_of(
        st.sampled_from(c.etags).map(str.encode),
        st.lists(st.sampled_from([*c.etags, "*", 'W/"x"', '""', ",", "W/"]), max_size=70).map(
            lambda tags: ", ".join(tags).encode()
        ),
        header_value(),
    )
    xff = st.one_of(
        st.lists(
            st.sampled_from(
                ["127.0.0.2", "10.0.0.1", "::1", "2001:db8::1", "unknown", "1.2.3.4:80", "[::1]:8080"]
            )
            | st.ip_addresses().map(str),
            max_size=8,
        ).map(lambda ips: ", ".join(ips).encode()),
        header_value(),
    )
    range_ = st.one_of(
        st.sampled_from(
            ["bytes=0-", "bytes=-1", "bytes=0-0,1-1", "bytes=99999999999999999999-", "bytes=a-b", "items=1"]
        ).map(str.encode),
        header_value(),
    )
    named = st.fixed_dictionaries(
        {},
        optional={
            b"Accept": accept,
            b"User-Agent": user_agent,
            b"If-None-Match": inm,
            b"X-Forwarded-For": xff,
            b"Range": range_,
            b"Forwarded": xff.map(lambda v: b"for=" + v),
            b"If-Modified-Since": st.sampled_from([b"Sat, 01 Jan 2000 00:00:00 GMT", b"garbage", b"0"])
            | header_value(),
            b"Authorization": st.sampled_from([b"Bearer x", b"Basic Zm9vOmJhcg==", b"Bearer"])
            | header_value(),
        },
    )
    method = st.sampled_from(["GET"] * 6 + ["HEAD", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "BREW"])
    return st.builds(
        lambda m, p, q, h, raw: RawRequest(m, _target(p + q, raw), tuple(h.items())),
        method,
        path,
        query,
        named,
        st.integers(0, 3).map(lambda n: n == 0),
    )


def _target(raw: bytes, keep_raw: bool) -> bytes:
    """What goes on the request line: no space, CR or LF (those would be other requests); bytes
    outside printable ASCII percent-encoded, except in a quarter of the requests (the server's 400)."""
    raw = raw.replace(b" ", b"%20").replace(b"\r", b"%0D").replace(b"\n", b"%0A")
    if keep_raw:
        return raw
    return b"".join(bytes([c]) if 0x21 <= c <= 0x7E else b"%%%02X" % c for c in raw)


@dataclass
class Verdict:
    """Counts of every check over all answers; `problems` keeps the first few offending requests."""

    answered: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    server_errors: int = 0
    tracebacks: int = 0
    header_injections: int = 0
    open_redirects: int = 0
    transport_errors: int = 0
    redirects: int = 0
    problems: list[str] = field(default_factory=list)

    def _problem(self, what: str, outcome: Outcome) -> None:
        if len(self.problems) < 20:
            answer = outcome.response
            shown = (answer.status, answer.head_lines[:12], answer.body[:300]) if answer else outcome.error
            self.problems.append(f"{what}: {outcome.request!r} -> {shown!r}")


class Checker:
    """Checks one answer: no 5xx, no traceback, clean header lines, Locations only where allowed."""

    def __init__(self, allowed_locations: Iterable[str]) -> None:
        self.allowed = frozenset(allowed_locations)
        self.verdict = Verdict()

    def location_ok(self, location: str) -> bool:
        if location in self.allowed:
            return True
        parts = urlsplit(location)
        # The gateway's own canonical redirects: root-relative, under /simple/, nothing host-like.
        return (
            not parts.scheme
            and not parts.netloc
            and location.startswith("/simple/")
            and not location.startswith("//")
        )

    def __call__(self, outcome: Outcome) -> None:
        v = self.verdict
        answer = outcome.response
        if answer is None:
            v.transport_errors += 1
            v._problem("no valid HTTP answer", outcome)
            return
        v.answered += 1
        v.by_status[answer.status] = v.by_status.get(answer.status, 0) + 1
        if answer.status >= 500:
            v.server_errors += 1
            v._problem("5xx", outcome)
        if _TRACEBACK_RE.search(answer.body):
            v.tracebacks += 1
            v._problem("traceback text", outcome)
        for line in answer.head_lines:
            name = line.partition(b":")[0]
            if (
                b"\r" in line
                or b"\n" in line
                or not _TOKEN_RE.fullmatch(name)
                or name.lower() == MARKER.encode()
            ):
                v.header_injections += 1
                v._problem("header line", outcome)
        location = answer.header("location")
        if location is not None:
            v.redirects += 1
            if not self.location_ok(location):
                v.open_redirects += 1
                v._problem(f"location {location!r}", outcome)
