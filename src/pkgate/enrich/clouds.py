"""Cloud provider of an address, from the IP range files the providers publish.

pkgate ships no ranges (they change weekly and stale ones mislabel traffic); an operator configures
files fetched from the providers, in the providers' own formats, recognised by content:

* AWS ``ip-ranges.json`` (https://ip-ranges.amazonaws.com/ip-ranges.json) -> ``aws``
* Google Cloud ``cloud.json`` (https://www.gstatic.com/ipranges/cloud.json) -> ``gcp``
  (``goog.json``, all of Google's addresses, -> ``google``)
* Azure Service Tags JSON (``ServiceTags_Public_*.json`` from the Microsoft download centre) -> ``azure``
* GitHub ``meta`` JSON (https://api.github.com/meta), its ``actions`` and ``actions_macos`` lists
  -> ``github-actions``
* Oracle Cloud ``public_ip_ranges.json`` (https://docs.oracle.com/iaas/tools/public_ip_ranges.json)
  -> ``oracle``
* Plain text: one CIDR or address per line (``#`` comments; anything after the first comma or blank
  is ignored, so geofeed CSVs such as DigitalOcean's ``google.csv`` work too). The provider is named
  by a ``# provider: NAME`` line, else by the file name up to its first dot (``cloudflare.txt``).
  Cloudflare (https://www.cloudflare.com/ips-v4 and ips-v6) and DigitalOcean
  (https://digitalocean.com/geo/google.csv) publish in this form.

Overlaps resolve to the narrowest range (GitHub Actions runners sit inside Azure ranges); equal
ranges go to the file configured later. Lookups are one `bisect` over flat sorted integer ranges.
"""

from __future__ import annotations

import bisect
import heapq
import ipaddress
import json
import pathlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from pkgate.errors import ConfigError

__all__ = ["CloudRanges", "parse_ranges"]

#: Largest range file read; the biggest published one (Azure) is a few MB.
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
_PROVIDER_LINE: Final = re.compile(r"^#\s*provider\s*:(.*)$", re.IGNORECASE)

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _net(text: object) -> Net | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (v for v in value if isinstance(v, dict))


def _json_ranges(doc: object) -> tuple[str, list[object]] | None:
    """(provider, raw CIDR strings) of a published JSON document, or None if its format is unknown."""
    if isinstance(doc, list):  # bare list of CIDRs
        return None
    if not isinstance(doc, dict):
        return None
    if "syncToken" in doc and ("ipv6_prefixes" in doc or "prefixes" in doc) and "createDate" in doc:
        raw = [p.get("ip_prefix") for p in _dicts(doc.get("prefixes"))]
        raw += [p.get("ipv6_prefix") for p in _dicts(doc.get("ipv6_prefixes"))]
        return "aws", raw
    if "prefixes" in doc and "creationTime" in doc:
        prefixes = list(_dicts(doc.get("prefixes")))
        raw = [p.get("ipv4Prefix") or p.get("ipv6Prefix") for p in prefixes]
        # cloud.json tags each prefix with its service and scope; goog.json (all of Google) does not.
        cloud = any("scope" in p or "service" in p for p in prefixes)
        return ("gcp" if cloud else "google"), raw
    if "values" in doc and "changeNumber" in doc and "cloud" in doc:
        raw = []
        for value in _dicts(doc.get("values")):
            props = value.get("properties")
            if isinstance(props, dict) and isinstance(props.get("addressPrefixes"), list):
                raw += props["addressPrefixes"]
        return "azure", raw
    if isinstance(doc.get("actions"), list) and (
        "hooks" in doc or "verifiable_password_authentication" in doc
    ):
        macos = doc.get("actions_macos")
        return "github-actions", list(doc["actions"]) + (macos if isinstance(macos, list) else [])
    if "regions" in doc and "last_updated_timestamp" in doc:
        raw = []
        for region in _dicts(doc.get("regions")):
            raw += [c.get("cidr") for c in _dicts(region.get("cidrs"))]
        return "oracle", raw
    return None


def _text_ranges(text: str, path: pathlib.Path) -> tuple[str, list[object]]:
    provider = path.name.split(".", 1)[0].lower()
    raw: list[object] = []
    for line in text.splitlines():
        line = line.strip()
        m = _PROVIDER_LINE.match(line)
        if m:
            provider = m.group(1).strip().lower()
            continue
        if not line or line.startswith("#"):
            continue
        raw.append(re.split(r"[,\s]", line, maxsplit=1)[0])
    return provider, raw


def parse_ranges(path: pathlib.Path) -> tuple[str, list[Net]]:
    """(provider, networks) of one published range file; ConfigError naming the path otherwise."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"privacy.cloud_ranges: cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"privacy.cloud_ranges: {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"privacy.cloud_ranges: {path} is not UTF-8 text") from exc
    found: tuple[str, list[object]] | None = None
    if text.lstrip().startswith(("{", "[")):
        try:
            found = _json_ranges(json.loads(text))
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"privacy.cloud_ranges: {path} is not valid JSON: {exc}") from exc
        if found is None:
            raise ConfigError(
                f"privacy.cloud_ranges: {path} is JSON in no known format "
                "(AWS ip-ranges, GCP cloud.json, Azure ServiceTags, GitHub meta, Oracle public_ip_ranges)"
            )
    else:
        found = _text_ranges(text, path)
    provider, raw = found
    if not _NAME.match(provider):
        raise ConfigError(f"privacy.cloud_ranges: {path}: bad provider name {provider!r}")
    nets = [n for n in map(_net, raw) if n is not None]
    if not nets:
        raise ConfigError(f"privacy.cloud_ranges: {path} holds no IP ranges")
    return provider, nets


def _flatten(ranges: Iterable[tuple[int, int, int, str]]) -> tuple[list[int], list[int], list[str]]:
    """Disjoint sorted (starts, ends, names) from overlapping (start, end, order, name) ranges.

    A sweep over range boundaries keeps the active ranges in a heap ordered by (size, -order), so
    each flat segment is labelled by the narrowest, latest-configured range covering it.
    """
    by_start = sorted(ranges)
    points = sorted({r[0] for r in by_start} | {r[1] + 1 for r in by_start})
    starts: list[int] = []
    ends: list[int] = []
    names: list[str] = []
    active: list[tuple[int, int, int, str]] = []  # (size, -order, end, name)
    i = 0
    for j, point in enumerate(points):
        while i < len(by_start) and by_start[i][0] == point:
            start, end, order, name = by_start[i]
            heapq.heappush(active, (end - start, -order, end, name))
            i += 1
        while active and active[0][2] < point:
            heapq.heappop(active)
        if not active or j + 1 == len(points):
            continue
        name = active[0][3]
        seg_end = points[j + 1] - 1
        if names and names[-1] == name and ends[-1] + 1 == point:
            ends[-1] = seg_end
        else:
            starts.append(point)
            ends.append(seg_end)
            names.append(name)
    return starts, ends, names


class CloudRanges:
    """Address -> provider name, from the configured range files (empty: every answer is None)."""

    def __init__(self, paths: Sequence[pathlib.Path] = ()) -> None:
        v4: list[tuple[int, int, int, str]] = []
        v6: list[tuple[int, int, int, str]] = []
        self.providers: list[str] = []
        for order, path in enumerate(paths):
            provider, nets = parse_ranges(pathlib.Path(path))
            self.providers.append(provider)
            for net in nets:
                bucket = v4 if net.version == 4 else v6
                bucket.append((int(net.network_address), int(net.broadcast_address), order, provider))
        self._v4 = _flatten(v4)
        self._v6 = _flatten(v6)

    def __len__(self) -> int:
        """Number of disjoint ranges held."""
        return len(self._v4[0]) + len(self._v6[0])

    def lookup_addr(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        """Provider of a parsed address (IPv4-mapped IPv6 is looked up as IPv4)."""
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return self.lookup_value(int(addr), addr.version == 6)

    def lookup_value(self, value: int, wide: bool) -> str | None:
        """Provider of an address as an integer (`wide`: IPv6; IPv4-mapped must come as IPv4)."""
        starts, ends, names = self._v6 if wide else self._v4
        i = bisect.bisect_right(starts, value) - 1
        if i >= 0 and value <= ends[i]:
            return names[i]
        return None

    def lookup(self, ip: str) -> str | None:
        """Provider of an address given as text; None for no match or no address."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        return self.lookup_addr(addr)
