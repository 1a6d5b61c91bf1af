"""The bundled, offline network database: ASN, organisation and connection type of an address.

pkgate depends on `plevin[network]` (Apache-2.0 reader, a database rebuilt daily from RIPE RIS,
RPKI, NRO, the registries' whois, CAIDA and PeeringDB, published on PyPI as `plevin-db-network`),
so organisation and ASN work on a fresh install with no download step and no online lookup: the
file is read in place (memory-mapped), nothing leaves the machine. Why this one, and how to get
fresher data (upgrade the package, or a MaxMind-format `privacy.asn_db`): docs/privacy.md.

The connection type is the network's own type as the database records it (the ASN operator's
category, e.g. PeeringDB's), folded into the few kinds Scarf's export uses: `hosting`, `business`,
`isp`, plus `education` and `government`; anything else is `other`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from array import array
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    import plevin
    from plevin.reader import Deltas

__all__ = ["CONNECTION_TYPES", "BuiltinNetworks", "NetworkFacts", "connection_of_asn"]

log = logging.getLogger(__name__)

CONNECTION_TYPES: Final = ("hosting", "business", "isp", "education", "government", "other")
#: The database's categories -> connection type.
_KIND: Final = {
    "hosting": "hosting",
    "cdn": "hosting",
    "content": "hosting",
    "infrastructure": "hosting",
    "search_engine_spider": "hosting",
    "exchange": "hosting",
    "business": "business",
    "residential": "isp",
    "cellular": "isp",
    "transit": "isp",
    "traveler": "isp",
    "education": "education",
    "government": "government",
    "military": "government",
}
_MAX_ASN: Final = 2**32 - 1


class NetworkFacts(NamedTuple):
    asn: int | None
    org: str | None


def _kind(category: object) -> str | None:
    if not isinstance(category, str) or not category:
        return None
    return _KIND.get(category, "other")


def _open() -> plevin.Plevin | None:
    """The bundled database, or None when it is not installed (a slim install: no ASN then)."""
    try:
        import plevin
        import plevin_db_network
    except ImportError:
        return None
    try:
        return plevin.Plevin(plevin_db_network.PATH)
    except (OSError, ValueError, LookupError) as exc:
        log.warning("the bundled network database cannot be read: %s", exc)
        return None


class _Rows:
    """Direct reads of the network database's columns: (asn, org) of an address in ~3 µs.

    `Plevin.lookup` builds a whole `Result` (every field, spellings, tunnels, place) per new
    address, ~100 µs; ASN and organisation depend only on the network row the address's spine row
    links to. So: the spine row by `Index.row` (plevin's own search, blocks decoded lazily as in
    `lookup`), its network link, and per network row, once, the ASN and the operator's company
    (else plevin's `derive.brand` of the handle, as its `Operator.brand`), read from the columns
    plevin's `_linked` reads; only those columns are ever decoded. plevin has no public bulk
    access, so this uses its reader's sections (`File.sections`): the version is pinned in
    pyproject.toml, the layout checked here (else `lookup` answers), and
    tests/enrich/test_geo_fast.py holds the answers equal to the public `lookup`'s.
    """

    def __init__(self, db: plevin.Plevin) -> None:
        from plevin import derive
        from plevin.reader import Column, Deltas, Index, Strings

        sections, reads = db.file.sections, db.file.reads
        index4, index6 = sections["spine.v4"], sections["spine.v6"]
        link4, link6 = sections["spine.v4.network"], sections["spine.v6.network"]
        asns, operators = sections["col.network.asn"], sections["link.network.operator"]
        handles = sections["col.network.handle"]
        companies, pool = sections["col.operator.company"], sections["strings"]
        if not (
            isinstance(index4, Index) and isinstance(index6, Index)
            and isinstance(link4, Column) and isinstance(link6, Column)
            and isinstance(asns, Column) and isinstance(operators, Column) and isinstance(handles, Column)
            and isinstance(companies, Column) and isinstance(pool, Strings)
            and asns.read == "" and companies.read == "text" and handles.read == "text"
            and not {"network.asn", "network.handle", "operator.company"} & reads.keys()
            and "col.network.brand" not in sections
        ):  # fmt: skip
            raise LookupError("unexpected plevin database layout")
        self._index4, self._index6, self._link4, self._link6 = index4, index6, link4, link6
        self._asns, self._operators, self._companies, self._pool = asns, operators, companies, pool
        self._handles = handles
        self._brand = derive.brand
        for section in (index4, index6, link4, link6, asns, operators, handles, companies, pool):
            build = functools.partial(_finished, section.cache.build)
            if isinstance(section, Deltas):
                build = functools.partial(_summed, section, build)
            section.cache.build = build
        for index in (index4, index6):
            index.groups.build = functools.partial(_packed, index.groups.build)
        #: network row + 1 -> facts; at most one entry per network of the database (~150,000).
        self._facts: dict[int, NetworkFacts] = {}

    def facts(self, value: int, wide: bool) -> NetworkFacts:
        """(asn, org) of the address `value` (`wide`: IPv6)."""
        row = (self._index6 if wide else self._index4).row(value)
        if row is None:
            return _NONE
        link: int = (self._link6 if wide else self._link4)[row]
        if not link:
            return _NONE
        found = self._facts.get(link)
        if found is None:
            found = self._facts[link] = self._network(link - 1)
        return found

    def _network(self, row: int) -> NetworkFacts:
        number: int = self._asns[row]
        asn = number if type(number) is int and 0 < number <= _MAX_ASN else None
        operator: int = self._operators[row]
        if not operator:
            return NetworkFacts(asn, None)
        company: str = self._pool[self._companies[operator - 1]]
        if company:
            return NetworkFacts(asn, company)
        # plevin's Operator.brand: the network row's brand (the file has none) or derived.
        brand = self._brand(str(self._pool[self._handles[row]]), company)
        return NetworkFacts(asn, brand or None)


_NONE: Final = NetworkFacts(None, None)


class _Done:
    """Stands in for a block's LZMA decoder once the block is decoded whole (`Stream.until`
    decodes only while its decoder has not reached the end)."""

    eof: Final = True


_DONE: Final = _Done()


def _packed(build: Callable[[int], list[int]], group: int) -> Sequence[int]:
    """A group of an address index as plevin builds it (a list of Python ints, 36 bytes each),
    packed 8 or 4 bytes a value when they fit: the groups a log's addresses reach held 27 MB per
    process for 45,000 IPv4 addresses, 4-6 MB packed. `bisect` reads either alike."""
    values = build(group)
    top = max(values, default=0)
    if top < 1 << 32:
        return array("I", values)
    if top < 1 << 64:
        return array("Q", values)
    return values


def _summed(section: Deltas, build: Callable[[int], object], index: int) -> object:
    """A block of a delta-coded column, its values summed up front into 8-byte integers instead
    of the Python ints plevin appends as rows are read (the columns of 45,000 addresses' networks
    held 13 MB per process that way)."""
    from plevin.reader import Stream

    stream = build(index)
    if isinstance(stream, Stream):
        count = min(section.per_block, section.count - index * section.per_block)
        with contextlib.suppress(OverflowError):  # a value past 64 bits: plevin's own list
            stream.sums = array("q", accumulate(section.steps(stream, 0, count)))  # type: ignore[assignment]
    return stream


def _finished(build: Callable[[int], object], index: int) -> object:
    """A block of a section as plevin builds it, its stream decoded whole and its decoder dropped.

    plevin decodes a block lazily and keeps its decoder, whose 1 MiB window stays allocated: the
    few hundred blocks a log's addresses touch held ~200 MiB per process (an ingest worker's, the
    gateway's). Decoded whole, a block is its ~60 KiB of rows, at about the same total cost.
    """
    from plevin.reader import Stream

    block = build(index)
    for part in block if isinstance(block, tuple) else (block,):
        if isinstance(part, Stream):
            part.until(sys.maxsize)
            part.decoder = _DONE  # type: ignore[assignment]
    return block


def _facts_of(db: plevin.Plevin, ip: str) -> NetworkFacts:
    """(asn, org) through plevin's public lookup."""
    network = db.lookup(ip).network  # dns=False: nothing leaves the machine
    if network is None:
        return _NONE
    asn = network.asn if type(network.asn) is int and 0 < network.asn <= _MAX_ASN else None
    op = network.operator
    org = (op.company or op.brand) if op is not None else None
    return NetworkFacts(asn, org or None)


class BuiltinNetworks:
    """Address -> (asn, org) from the bundled database; never raises, never goes online."""

    def __init__(self) -> None:
        self._opened = False
        self._handle: plevin.Plevin | None = None
        self._rows: _Rows | None = None

    @property
    def _db(self) -> plevin.Plevin | None:
        """Opened on first use (45 ms): a process that never sees a public address never pays."""
        if not self._opened:
            self._handle, self._opened = _open(), True
            if self._handle is not None:
                try:
                    self._rows = _Rows(self._handle)
                except (LookupError, ImportError, AttributeError) as exc:
                    log.warning("bundled network database: fast reads off (%s), using plevin.lookup", exc)
        return self._handle

    @property
    def available(self) -> bool:
        return self._db is not None

    @property
    def built(self) -> str | None:
        """The day the database was built (its freshness)."""
        db = self._db
        return None if db is None else db.built

    def lookup(self, ip: str) -> NetworkFacts:
        db = self._db
        if db is None:
            return NetworkFacts(None, None)
        try:
            return _facts_of(db, ip)
        except Exception:  # a reader bug must not lose the request's event
            log.exception("bundled network lookup failed")
            return _NONE

    def lookup_value(self, value: int, wide: bool, ip: str) -> NetworkFacts:
        """`lookup(ip)` for an address already parsed to (value, wide), `ip` its canonical form."""
        db = self._db
        rows = self._rows
        if rows is None:
            return _NONE if db is None else self.lookup(ip)
        try:
            return rows.facts(value, wide)
        except Exception:  # a reader bug: plevin's own lookup still answers
            log.exception("bundled network fast read failed")
            return self.lookup(ip)

    def connection(self, asn: int) -> str | None:
        """The connection type of an ASN (None: unknown)."""
        db = self._db
        if db is None or not 0 < asn <= _MAX_ASN:
            return None
        try:
            found = db.system(asn)
        except Exception:
            log.exception("bundled network lookup failed")
            return None
        network = found.network if found.found else None
        if network is None:
            return None
        if network.carrier is not None and network.carrier.user_type:
            return _kind(network.carrier.user_type)
        return _kind(network.operator.category) if network.operator is not None else None


@functools.cache
def _shared() -> BuiltinNetworks:
    return BuiltinNetworks()


@functools.lru_cache(maxsize=65536)
def connection_of_asn(asn: int) -> str | None:
    """The connection type of an ASN from the bundled database (cached: a few hundred µs each)."""
    return _shared().connection(asn)
