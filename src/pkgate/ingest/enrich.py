"""Client address -> source ids and geo facts, as the gateway's recorder does, then dropped.

One difference is deliberate: a line may be older than yesterday, whose day key has already been
destroyed (or never existed). Such days get a key of this ingest's own, derived from a random run
secret that lives in memory only and is shared by the worker processes, so their uniques count
right within the ingest but can never be linked to the gateway's ids of that day, or to another
ingest's. Today and yesterday use the shared day keys in `<data_dir>/keys`, so those days' uniques
join with the gateway's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

import msgspec

from pkgate.config import Config
from pkgate.edge.clientip import ClientIP
from pkgate.enrich.geo import Enricher, GeoFacts, SourceFacts
from pkgate.enrich.sources import DAY_US, SourceHasher

__all__ = ["IngestEnricher"]


class _RunKeyHasher(SourceHasher):
    """A `SourceHasher` whose stand-in for a destroyed key is derived from the run secret instead of
    being random per process: the workers of one ingest must agree on it."""

    def __init__(self, keys_dir: Path, window_days: int | None, run_secret: bytes) -> None:
        super().__init__(keys_dir, window_days, cache_size=0)
        self._run_secret = run_secret

    def _new_ephemeral(self, name: str) -> bytes:
        return hashlib.blake2b(name.encode(), key=self._run_secret, digest_size=32).digest()


#: (day, address, forwarded-for) -> facts rows a worker keeps: a log's addresses come back across
#: chunks, and each costs its ids and geo facts (~20 µs the first time) only once.
ROWS_MAX: Final = 65536
#: Address -> geo facts a worker keeps: they do not change with the day, and a log spanning days
#: brings most addresses back on each one (a lookup is ~15 µs the first time, ~3 µs again).
GEO_MAX: Final = 65536


class IngestEnricher:
    """`row((day, ip, forwarded_for))`: the event's source ids and facts (`SourceFacts` fields, in
    order); the address goes no further."""

    def __init__(self, cfg: Config, run_secret: bytes, now_us: int) -> None:
        self.enricher = Enricher(
            cfg.data_dir,
            asn_db=Path(cfg.privacy.asn_db) if cfg.privacy.asn_db else None,
            cloud_ranges=[Path(p) for p in cfg.privacy.cloud_ranges],
            builtin_asn=cfg.privacy.builtin_asn,
            cache_size=1,  # unused: rows and geo facts are cached here
        )
        self.enricher.hasher = _RunKeyHasher(cfg.paths.keys, None, run_secret)
        # The hasher's newest day is today: days before yesterday never touch a key file, and a
        # log line can never make it delete today's key (lines from the future are rejected).
        self.enricher.hasher.ids("0.0.0.0", now_us)
        self.today = now_us // DAY_US
        self.client_ip = ClientIP(cfg.privacy.trusted_proxies, header=cfg.privacy.forwarded_header)
        # Oldest first out (a log's days come in order), no bookkeeping on a hit.
        self._rows: dict[tuple[int, str, str | None], tuple[Any, ...]] = {}
        self._geo: dict[str, GeoFacts] = {}  # likewise

    def row(self, key: tuple[int, str, str | None]) -> tuple[Any, ...]:
        rows = self._rows
        hit = rows.get(key)
        if hit is not None:
            return hit
        day, ip, forwarded_for = key
        client = self.client_ip.resolve(ip, forwarded_for, None)
        geo = self._geo.get(client)
        if geo is None:
            geo = self.enricher.geo_facts(client)
            if len(self._geo) >= GEO_MAX:
                del self._geo[next(iter(self._geo))]
            self._geo[client] = geo
        # What `Enricher.facts` makes, without its per-day cache: the hasher minds the day itself.
        source_id, network_id = self.enricher.hasher.ids(client, day * DAY_US)
        if len(rows) >= ROWS_MAX:
            del rows[next(iter(rows))]
        row = rows[key] = msgspec.structs.astuple(SourceFacts(source_id, network_id, *geo))
        return row

    def close(self) -> None:
        self.enricher.close()
