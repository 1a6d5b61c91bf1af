"""Every log parser: the real sample lines read as expected, and properties over generated lines
(fields survive the server's escaping; hostile lines are a BadLine, never another exception)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgate.ingest import combined
from pkgate.ingest.cloudflare import CloudflareParser
from pkgate.ingest.cloudfront import DEFAULT_FIELDS, CloudFrontParser
from pkgate.ingest.combined import CombinedParser, clf_time_us
from pkgate.ingest.detect import Parser, detect, make_parser
from pkgate.ingest.jsonlines import FASTLY, JsonParser
from pkgate.ingest.nginx_json import NginxJsonParser
from pkgate.ingest.record import BadLine, Record

SAMPLES = Path(__file__).parent / "samples"
US = 1_000_000


def _read(name: str) -> list[str]:
    return (SAMPLES / name).read_text().splitlines()


def _parse_all(parser: Parser, lines: list[str]) -> list[Record | str]:
    out: list[Record | str] = []
    for line in lines:
        try:
            rec = parser.parse(line)
        except BadLine as exc:
            out.append(exc.reason)
            continue
        if rec is not None:
            out.append(rec)
    return out


def _ts(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp() * US)


# --- the real samples ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("nginx-combined.log", "combined"),
        ("apache-combined.log", "combined"),
        ("nginx.json", "nginx-json"),
        ("cloudfront.log", "cloudfront"),
        ("cloudflare.json", "cloudflare"),
        ("fastly.json", "json"),
    ],
)
def test_formats_are_detected(name: str, fmt: str) -> None:
    assert detect(_read(name)).name == fmt


def test_nginx_combined_sample() -> None:
    got = _parse_all(CombinedParser(), _read("nginx-combined.log"))
    assert len(got) == 8
    first = got[0]
    assert isinstance(first, Record)
    assert (first.ip, first.method, first.target, first.status) == (
        "203.0.113.7",
        "GET",
        "/simple/requests/",
        200,
    )
    assert first.ts_us == _ts("2026-12-01T09:15:02+00:00")
    # nginx writes the JSON quotes of pip's User-Agent as \x22: they come back as quotes.
    assert first.user_agent.startswith('pip/24.2 {"ci":null,"cpu":"x86_64"')
    assert json.loads(first.user_agent.split(" ", 1)[1])["installer"] == {"name": "pip", "version": "24.2"}
    uv = got[3]
    assert isinstance(uv, Record)
    assert (uv.ip, uv.status, uv.conditional, uv.partial) == ("2001:db8:4f::2a", 304, True, None)
    assert uv.ts_us == _ts("2026-12-01T08:16:44+00:00")  # +0100 zone
    assert isinstance(got[4], Record)
    assert got[4].method == "HEAD"
    assert got[6] == "request"  # a TLS handshake sent to the plain port
    assert isinstance(got[7], Record)
    assert got[7].target == "/simple/"


def test_apache_combined_sample() -> None:
    got = _parse_all(CombinedParser(), _read("apache-combined.log"))
    assert [r.status for r in got if isinstance(r, Record)] == [200, 200, 206, 200, 200, 404]
    ranged, cgi = got[2], got[5]
    assert isinstance(ranged, Record)
    assert ranged.partial is True
    assert isinstance(cgi, Record)
    assert cgi.target == '/cgi-bin/test.cgi?a="b"'
    assert cgi.user_agent == 'Mozilla/5.0 "quoted" agent'


def test_nginx_json_sample() -> None:
    got = _parse_all(NginxJsonParser(), _read("nginx.json"))
    assert all(isinstance(r, Record) for r in got)
    assert len(got) == 5
    a, b, c, d, _e = got
    assert isinstance(a, Record)
    assert isinstance(b, Record)
    assert isinstance(c, Record)
    assert isinstance(d, Record)
    assert a.ts_us == 1796120102123000
    assert a.duration_us == 4000
    assert (a.partial, a.conditional) == (False, False)
    assert b.partial is True  # bytes=-10240: uv reading a wheel's metadata lazily
    assert c.conditional is True
    assert c.status == 304
    assert (d.ip, d.forwarded_for) == ("10.1.2.3", "198.51.100.200")


def test_cloudfront_sample() -> None:
    got = _parse_all(CloudFrontParser(), _read("cloudfront.log"))
    assert len(got) == 3
    a, b, c = got
    assert isinstance(a, Record)
    assert isinstance(b, Record)
    assert isinstance(c, Record)
    assert a.ts_us == _ts("2026-12-01T09:20:11+00:00")
    assert a.user_agent == 'pip/24.2 {"installer":{"name":"pip","version":"24.2"},"python":"3.12.3"}'
    assert (a.target, a.status, a.duration_us) == ("/simple/attrs/", 200, 103000)
    assert (b.partial, c.partial, c.ip) == (False, True, "2001:db8:1::7")


def test_cloudflare_sample() -> None:
    got = _parse_all(CloudflareParser(), _read("cloudflare.json"))
    a, b, c = got
    assert isinstance(a, Record)
    assert isinstance(b, Record)
    assert isinstance(c, Record)
    assert a.ts_us == 1796120400011000  # unixnano
    assert (b.target, b.status) == ("/packages/idna-3.10-py3-none-any.whl", 302)
    assert c.ts_us == _ts("2026-12-01T09:40:05+00:00")  # rfc3339


def test_fastly_sample_and_custom_mapping() -> None:
    got = _parse_all(make_parser("json"), _read("fastly.json"))
    assert [r.target for r in got if isinstance(r, Record)] == [
        "/simple/certifi/",
        "/packages/certifi-2024.8.30-py3-none-any.whl",
    ]
    custom = make_parser("json", json_fields={"ts": "t", "ip": "who", "target": "u", "status": "s"})
    rec = custom.parse('{"t": 1796120400, "who": "192.0.2.1", "u": "/simple/", "s": "200"}')
    assert rec is not None
    assert (rec.ts_us, rec.status, rec.method) == (1796120400 * US, 200, "GET")


def test_cloudfront_columns_follow_the_fields_header() -> None:
    parser = make_parser(
        "cloudfront", ["#Version: 1.0", "#Fields: c-ip sc-status date time cs-method cs-uri-stem"]
    )
    rec = parser.parse("192.0.2.9\t302\t2026-12-01\t00:00:01\tGET\t/simple/six/")
    assert rec is not None
    assert (rec.ip, rec.status, rec.target) == ("192.0.2.9", 302, "/simple/six/")


# --- properties --------------------------------------------------------------------------------

PARSERS: list[Parser] = [
    CombinedParser(),
    NginxJsonParser(),
    CloudflareParser(),
    CloudFrontParser(),
    JsonParser("json", FASTLY),
]
SAMPLE_LINES = [ln for name in sorted(p.name for p in SAMPLES.iterdir()) for ln in _read(name)]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _verdict(parser: Parser, line: str) -> Record | str | None:
    try:
        return parser.parse(line)
    except BadLine as exc:
        verdict = exc
    assert verdict.reason
    assert str(verdict).isprintable()
    return verdict.reason


@FAST
@given(st.sampled_from(SAMPLE_LINES), st.integers(0, 2000), st.text(max_size=40), st.integers(0, 3))
def test_mutated_real_lines_never_crash(line: str, at: int, insert: str, cut: int) -> None:
    """Quotes, backslashes, tabs, braces or anything else spliced into a real line."""
    at = at % (len(line) + 1)
    hostile = line[:at] + insert + line[at + cut :]
    for parser in PARSERS:
        got = _verdict(parser, hostile)
        if isinstance(got, Record):
            assert 100 <= got.status <= 599
            assert got.method.isalpha()
            assert got.ip


@FAST
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    text = data.decode("utf-8", "replace")  # what the worker hands a parser: invalid UTF-8 replaced
    for parser in PARSERS:
        _verdict(parser, text)


@FAST
@given(
    st.sampled_from(SAMPLE_LINES),
    st.sampled_from(['"', "\\", "\\x", "{", "\t", "%", "\x00"]),
    st.integers(1, 200_000),
)
def test_huge_fields_are_cut_or_rejected(line: str, char: str, n: int) -> None:
    huge = line.replace("GET", "GET", 1).replace("/simple/", "/simple/" + char * n, 1)
    for parser in PARSERS:
        got = _verdict(parser, huge)
        if isinstance(got, Record):
            assert len(got.target) <= 8192 * 4
            assert len(got.user_agent) <= 8192 * 4


NGINX_SAFE = set(range(0x20, 0x7F)) - {ord('"'), ord("\\")}


def _nginx_escape(text: str) -> str:
    """What nginx writes for a header or request value (escape=default)."""
    return "".join(chr(b) if b in NGINX_SAFE else f"\\x{b:02X}" for b in text.encode())


def _apache_escape(text: str) -> str:
    out = []
    for b in text.encode():
        if b == ord('"'):
            out.append('\\"')
        elif b == ord("\\"):
            out.append("\\\\")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


paths = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters=" \r\n"), max_size=60).map(
    lambda s: "/" + s
)
agents = st.text(st.characters(blacklist_categories=["Cs"]), max_size=200).filter(
    lambda s: s != "-"
)  # "-": absent
times = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=dt.UTC)
)
zones = st.integers(-14 * 60, 14 * 60)
ips = st.one_of(st.ip_addresses().map(str))
methods = st.sampled_from(["GET", "HEAD", "POST", "OPTIONS"])
statuses = st.integers(100, 599)


@FAST
@given(ips, times, zones, methods, paths, statuses, agents, st.booleans())
def test_combined_round_trip(
    ip: str, when: dt.datetime, zone: int, method: str, path: str, status: int, ua: str, apache: bool
) -> None:
    escape = _apache_escape if apache else _nginx_escape
    local = when.astimezone(dt.timezone(dt.timedelta(minutes=zone)))
    stamp = local.strftime("%d/%b/%Y:%H:%M:%S %z")
    line = f'{ip} - - [{stamp}] "{escape(f"{method} {path} HTTP/1.1")}" {status} 0 "-" "{escape(ua)}"'
    rec = CombinedParser().parse(line)
    assert rec is not None
    assert (rec.ip, rec.method, rec.target, rec.status) == (ip, method, path, status)
    assert rec.ts_us == int(when.timestamp()) * US == clf_time_us(stamp)
    assert rec.user_agent == ua


@FAST
@given(
    st.sampled_from(SAMPLE_LINES),
    st.integers(0, 2000),
    st.one_of(st.text(max_size=40), st.text(alphabet='"\\ a-', max_size=6)),
    st.integers(0, 3),
)
def test_combined_quick_pattern_agrees_with_the_full_one(line: str, at: int, insert: str, cut: int) -> None:
    """The quick pattern (nginx lines, no escaped quotes) answers exactly as the full one does."""
    at = at % (len(line) + 1)
    hostile = line[:at] + insert + line[at + cut :]
    full = combined._LINE.match(hostile)
    try:
        quick: tuple[object, ...] | None = combined.fields(hostile)
    except BadLine:
        quick = None
    assert quick == (full.groups() if full is not None else None)


@FAST
@given(ips, times, methods, paths, statuses, agents, st.text(max_size=20), st.sampled_from(["msec", "iso"]))
def test_nginx_json_round_trip(
    ip: str, when: dt.datetime, method: str, path: str, status: int, ua: str, rng: str, clock: str
) -> None:
    doc: dict[str, object] = {
        "remote_addr": ip,
        "request_method": method,
        "request_uri": path,
        "status": status,
        "http_user_agent": ua,
        "http_range": rng,
    }
    if clock == "msec":
        doc["msec"] = when.timestamp()
    else:
        doc["time_iso8601"] = when.isoformat()
    line = json.dumps(doc)
    rec = NginxJsonParser(doc).parse(line)
    assert rec is not None
    assert (rec.ip, rec.method, rec.target, rec.status, rec.user_agent) == (ip, method, path, status, ua)
    assert rec.ts_us == int(when.timestamp()) * US
    assert rec.partial == (bool(rng.strip("- ")) or status == 206)


@FAST
@given(ips, times, methods, paths, statuses, agents, st.sampled_from(["unixnano", "unix", "rfc3339"]))
def test_cloudflare_round_trip(
    ip: str, when: dt.datetime, method: str, path: str, status: int, ua: str, form: str
) -> None:
    seconds = int(when.timestamp())
    stamp: object = {"unixnano": seconds * 10**9, "unix": seconds, "rfc3339": when.isoformat()}[form]
    doc = {
        "ClientIP": ip,
        "ClientRequestMethod": method,
        "ClientRequestURI": path,
        "EdgeResponseStatus": status,
        "ClientRequestUserAgent": ua,
        "EdgeStartTimestamp": stamp,
    }
    rec = CloudflareParser().parse(json.dumps(doc))
    assert rec is not None
    assert (rec.ip, rec.method, rec.target, rec.status, rec.user_agent) == (ip, method, path, status, ua)
    assert rec.ts_us == seconds * US


@FAST
@given(ips, times, methods, paths, statuses, agents)
def test_cloudfront_round_trip(
    ip: str, when: dt.datetime, method: str, path: str, status: int, ua: str
) -> None:
    values = dict.fromkeys(DEFAULT_FIELDS, "-")
    values.update(
        {
            "date": when.strftime("%Y-%m-%d"),
            "time": when.strftime("%H:%M:%S"),
            "c-ip": ip,
            "cs-method": method,
            "cs-uri-stem": quote(path, safe="/"),
            "sc-status": str(status),
            "cs(User-Agent)": quote(quote(ua, safe="")) if ua else "-",
        }
    )
    rec = CloudFrontParser().parse("\t".join(values[f] for f in DEFAULT_FIELDS))
    assert rec is not None
    assert (rec.ip, rec.method, rec.target, rec.status, rec.user_agent) == (ip, method, path, status, ua)
    assert rec.ts_us == int(when.timestamp()) * US


def test_nginx_json_npm_command() -> None:
    line = (
        '{"msec":1796120102.5,"remote_addr":"203.0.113.9","request_method":"GET",'
        '"request_uri":"/npm/left-pad","status":200,"http_user_agent":"npm/10.8.2",'
        '"http_npm_command":"ci"}'
    )
    got = NginxJsonParser().parse(line)
    assert isinstance(got, Record)
    assert got.command == "ci"
    for empty in ('"http_npm_command":"-",', '"http_npm_command":"",', ""):
        other = NginxJsonParser().parse(line.replace('"http_npm_command":"ci"', empty.rstrip(",") or '"x":1'))
        assert isinstance(other, Record)
        assert other.command is None
