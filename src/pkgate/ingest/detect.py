"""Which format a log is in: from `--format`, else from its first lines.

Each candidate parses the first non-empty lines; the one that reads the most of them wins (ties go
to the order of `FORMATS`). JSON lines are told apart by their keys; anything else JSON goes to the
generic mapping (`ingest.json_fields`, Fastly's names by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import msgspec

from pkgate.errors import IngestError
from pkgate.ingest.cloudflare import CloudflareParser, looks_like_cloudflare
from pkgate.ingest.cloudfront import CloudFrontParser, fields_of
from pkgate.ingest.combined import CombinedParser
from pkgate.ingest.jsonlines import JsonParser, mapping
from pkgate.ingest.nginx_json import NginxJsonParser, looks_like_nginx
from pkgate.ingest.record import BadLine, Record

__all__ = ["FORMATS", "Parser", "detect", "make_parser"]

#: `--format` values; `nginx` and `apache` are the combined layout.
FORMATS: Final = ("combined", "nginx", "apache", "nginx-json", "cloudfront", "cloudflare", "json")
SAMPLE_LINES: Final = 20


class Parser(Protocol):
    name: str

    def parse(self, line: str) -> Record | None:
        """The request on `line`, None for a blank or header line; raises `BadLine`."""


def _first_object(lines: Sequence[str]) -> dict[str, Any] | None:
    for line in lines:
        if line.strip():
            try:
                obj = msgspec.json.decode(line)
            except msgspec.DecodeError:
                return None
            return obj if isinstance(obj, dict) else None
    return None


def make_parser(fmt: str, sample: Sequence[str] = (), json_fields: Mapping[str, str] | None = None) -> Parser:
    """The parser for format `fmt` (one of FORMATS), set up from the sample's headers or keys."""
    if fmt in ("combined", "nginx", "apache"):
        return CombinedParser()
    if fmt == "nginx-json":
        return NginxJsonParser(_first_object(sample))
    if fmt == "cloudflare":
        return CloudflareParser()
    if fmt == "cloudfront":
        named = next((f for f in map(fields_of, sample) if f is not None), None)
        try:
            return CloudFrontParser(named) if named else CloudFrontParser()
        except BadLine as exc:
            raise IngestError(f"CloudFront log: {exc}") from None
    if fmt == "json":
        return JsonParser("json", mapping(json_fields or {}))
    raise IngestError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")


def _score(parser: Parser, lines: Sequence[str]) -> int:
    good = 0
    for line in lines:
        try:
            if parser.parse(line) is not None:
                good += 1
        except BadLine:
            continue
    return good


def detect(lines: Sequence[str], json_fields: Mapping[str, str] | None = None) -> Parser:
    """The parser that reads most of `lines` (the first lines of a log); IngestError if none does."""
    sample = [ln for ln in lines if ln.strip()][:SAMPLE_LINES]
    if not sample:
        raise IngestError("empty log: no line to detect the format from (give --format)")
    obj = _first_object(sample)
    candidates: list[str]
    if obj is not None:
        if looks_like_nginx(obj):
            candidates = ["nginx-json"]
        elif looks_like_cloudflare(obj):
            candidates = ["cloudflare"]
        else:
            candidates = ["json"]
    elif any(ln.startswith(("#Version:", "#Fields:")) for ln in sample) or "\t" in sample[0]:
        candidates = ["cloudfront", "combined"]
    else:
        candidates = ["combined", "cloudfront"]
    best: tuple[int, Parser] | None = None
    for fmt in candidates:
        try:
            parser = make_parser(fmt, sample, json_fields)
        except IngestError:
            continue
        score = _score(parser, sample)
        if score and (best is None or score > best[0]):
            best = (score, parser)
    if best is None:
        raise IngestError(
            f"cannot tell the log format from its first {len(sample)} lines "
            f"(give --format, one of {', '.join(FORMATS)}; JSON needs ingest.json_fields)"
        )
    return best[1]
