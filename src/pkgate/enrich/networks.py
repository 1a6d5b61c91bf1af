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

import functools
import logging
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    import plevin

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


class BuiltinNetworks:
    """Address -> (asn, org) from the bundled database; never raises, never goes online."""

    def __init__(self) -> None:
        self._opened = False
        self._handle: plevin.Plevin | None = None

    @property
    def _db(self) -> plevin.Plevin | None:
        """Opened on first use (0.2 s): a process that never sees a public address never pays."""
        if not self._opened:
            self._handle, self._opened = _open(), True
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
            network = db.lookup(ip).network  # dns=False: nothing leaves the machine
        except Exception:  # a reader bug must not lose the request's event
            log.exception("bundled network lookup failed")
            return NetworkFacts(None, None)
        if network is None:
            return NetworkFacts(None, None)
        asn = network.asn if type(network.asn) is int and 0 < network.asn <= _MAX_ASN else None
        op = network.operator
        org = (op.company or op.brand) if op is not None else None
        return NetworkFacts(asn, org or None)

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
