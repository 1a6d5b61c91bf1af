"""Facts about a client address, computed at the edge so that only they, never the address, are kept.

Country comes from `iptocc` (offline, bundled RIR delegation data); ASN and organisation from a
MaxMind-format database in the GeoLite2-ASN layout when one is configured (`privacy.asn_db`, the way
to fresher or licensed data), else from the bundled network database (`pkgate.enrich.networks`,
installed with pkgate; `privacy.builtin_asn = false` turns it off); the cloud provider from
configured range files (`pkgate.enrich.clouds`). Nothing is ever looked up online. Private, loopback and other non-global addresses get no country, ASN
or organisation: they say nothing about where a client is.
"""

from __future__ import annotations

import ipaddress
import logging
import pathlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, NamedTuple

import iptocc
import msgspec

from pkgate.enrich import addresses
from pkgate.enrich.clouds import CloudRanges
from pkgate.enrich.networks import BuiltinNetworks
from pkgate.enrich.sources import DAY_US, SourceHasher
from pkgate.errors import ConfigError
from pkgate.extras import require

if TYPE_CHECKING:
    import maxminddb

__all__ = ["Enricher", "GeoFacts", "GeoLookup", "SourceFacts"]

log = logging.getLogger(__name__)

#: Longest organisation name kept (bounded rows; real names are far shorter).
MAX_ORG: Final = 200
_MAX_ASN: Final = 2**32 - 1


class GeoFacts(NamedTuple):
    """What an address tells; every part is None when unknown."""

    country: str | None  # ISO 3166 alpha-2
    asn: int | None
    org: str | None
    cloud: str | None


_NOTHING: Final = GeoFacts(None, None, None, None)


class SourceFacts(msgspec.Struct, frozen=True):
    """What an event keeps about its client: pseudonymous ids and coarse, non-identifying facts."""

    source_id: str
    network_id: str
    country: str | None
    asn: int | None
    org: str | None
    cloud: str | None


def _open_asn_db(path: pathlib.Path) -> maxminddb.Reader:
    require("asn", "privacy.asn_db")
    import maxminddb  # the `asn` extra

    try:
        reader = maxminddb.open_database(path)
    except FileNotFoundError as exc:
        raise ConfigError(f"privacy.asn_db: {path} does not exist") from exc
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        raise ConfigError(f"privacy.asn_db: {path} is not a readable MaxMind database: {exc}") from exc
    return reader


class GeoLookup:
    """Address -> (country, asn, org, cloud); every part is None when unknown, never an error."""

    def __init__(
        self,
        asn_db: pathlib.Path | None = None,
        cloud_ranges: Sequence[pathlib.Path] = (),
        builtin_asn: bool = True,
    ) -> None:
        self._asn = _open_asn_db(pathlib.Path(asn_db)) if asn_db is not None else None
        # A configured database is the operator's choice: it alone answers, the bundled one is off.
        self._builtin = BuiltinNetworks() if builtin_asn and self._asn is None else None
        self._damaged: type[Exception] = ValueError
        if self._asn is not None:
            import maxminddb

            self._damaged = maxminddb.InvalidDatabaseError
        self._clouds = CloudRanges(cloud_ranges)
        self._warned = False

    def close(self) -> None:
        """Release the ASN database (its file is memory-mapped)."""
        if self._asn is not None:
            self._asn.close()
            self._asn = None

    def lookup(self, ip: str) -> GeoFacts:
        """(country, asn, org, cloud) of `ip`; IPv4-mapped IPv6 counts as its IPv4 address.

        A few µs per address (bench/geo.py): the text becomes an integer once, and every part is a
        `bisect` or a dict away; only text `inet_pton` refuses (scope ids, junk) takes `ipaddress`.
        """
        parsed = addresses.parse(text := ip.strip()) if type(ip) is str else None
        if parsed is None:
            return self._lookup_text(ip)
        value, wide = parsed
        cloud = self._clouds.lookup_value(value, wide)
        if not addresses.is_global(value, wide):
            return GeoFacts(None, None, None, cloud)
        # inet_pton's dotted quads have no leading zeros: such text is already canonical.
        canonical = text if not wide and ":" not in text else addresses.canonical(value, wide)
        country = iptocc.country_code(canonical)
        if self._asn is not None:
            asn, org = self._asn_of(ipaddress.IPv6Address(value) if wide else ipaddress.IPv4Address(value))
        elif self._builtin is not None:
            asn, org = self._builtin.lookup_value(value, wide, canonical)
            org = org[:MAX_ORG] if org else None
        else:
            asn = org = None
        return GeoFacts(country, asn, org, cloud)

    def _lookup_text(self, ip: object) -> GeoFacts:
        """The `ipaddress` path, for what `inet_pton` refuses (scope ids, packed bytes, junk)."""
        try:
            addr = ipaddress.ip_address(ip.strip())  # type: ignore[attr-defined]
        except (ValueError, AttributeError):
            return _NOTHING
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        cloud = self._clouds.lookup_addr(addr)
        if not addr.is_global:
            return GeoFacts(None, None, None, cloud)
        country = iptocc.country_code(str(addr))
        asn, org = self._asn_of(addr)
        return GeoFacts(country, asn, org, cloud)

    def _asn_of(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[int | None, str | None]:
        if self._asn is None:
            if self._builtin is None:
                return None, None
            asn, org = self._builtin.lookup(str(addr))
            return asn, org[:MAX_ORG] if org else None
        try:
            record = self._asn.get(addr)
        except (ValueError, self._damaged) as exc:
            # An IPv6 address in an IPv4-only database, or a damaged file: no facts, not an outage.
            if not self._warned and not isinstance(exc, ValueError):
                log.warning("ASN database lookup failed: %s", exc)
                self._warned = True
            return None, None
        if not isinstance(record, dict):
            return None, None
        number = record.get("autonomous_system_number")
        name = record.get("autonomous_system_organization")
        asn = number if type(number) is int and 0 < number <= _MAX_ASN else None
        org = name[:MAX_ORG] if isinstance(name, str) and name else None
        return asn, org


class Enricher:
    """One call per request: the ids and facts of a client address, cached per address and UTC day."""

    def __init__(
        self,
        data_dir: pathlib.Path,
        asn_db: pathlib.Path | None = None,
        cloud_ranges: Sequence[pathlib.Path] = (),
        window_days: int | None = None,
        *,
        cache_size: int = 65536,
        builtin_asn: bool = True,
    ) -> None:
        self.geo = GeoLookup(asn_db, cloud_ranges, builtin_asn)
        # The hasher caches nothing itself: this cache holds whole facts.
        self.hasher = SourceHasher(pathlib.Path(data_dir) / "keys", window_days, cache_size=0)
        # Insertion order, oldest evicted first: no bookkeeping on a hit (a client's requests come
        # in bursts, so recency would buy little).
        self._cache: OrderedDict[tuple[int, str], SourceFacts] = OrderedDict()
        self._marks: dict[tuple[int, str], list[int]] = {}
        self._cache_size = max(1, cache_size)
        self._day: int | None = None

    def facts(self, ip: str, ts_us: int) -> SourceFacts:
        """Ids and facts of `ip` at `ts_us`. Never raises; a cache hit costs about a microsecond."""
        day = ts_us // DAY_US
        key = (day, ip)
        cache = self._cache
        hit = cache.get(key)
        if hit is not None:
            return hit
        if self._day is None or day > self._day:
            self._new_day(day)
        source_id, network_id = self.hasher.ids(ip, ts_us)
        facts = SourceFacts(source_id, network_id, *self.geo_facts(ip))
        cache[key] = facts
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return facts

    def geo_facts(self, ip: str) -> GeoFacts:
        """`geo.lookup(ip)`, or no facts if it fails: a lookup bug must not lose the event."""
        try:
            return self.geo.lookup(ip)
        except Exception:
            log.exception("geo lookup failed")
            return _NOTHING

    def marks(self, ip: str, ts_us: int) -> list[int]:
        """The HLL marks of `ip` (only the gateway's own events carry them: an ingested log's old
        days get no period keys). Cached per address and UTC day like the facts (four keyed hashes
        per request were a third of the file-redirect path); the list is shared: never change it."""
        day = ts_us // DAY_US
        key = (day, ip)
        marks = self._marks.get(key)
        if marks is None:
            if self._day is None or day > self._day:
                self._new_day(day)
            marks = self.hasher.marks(ip, ts_us)
            if len(self._marks) >= self._cache_size:
                self._marks.clear()
            self._marks[key] = marks
        return marks

    def _new_day(self, day: int) -> None:
        """Yesterday's addresses need not stay in memory any longer."""
        self._cache.clear()
        self._marks.clear()
        self._day = day

    def close(self) -> None:
        """Release the ASN database."""
        self.geo.close()
