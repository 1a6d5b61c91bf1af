"""The ingest's rows of facts are what `Enricher.facts` gives, though each address is looked up once.

`IngestEnricher` keeps an address's geo facts across days (they do not depend on the day) while its
ids change every day; the expected rows here come from separate enrichers that share no cache with
it: the gateway's own `Enricher` for today and yesterday (whose day keys it shares), and one with
the ingest's run-secret hasher for older days.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pkgate.config import Config, Storage
from pkgate.config.model import Privacy
from pkgate.enrich.geo import Enricher, GeoFacts
from pkgate.enrich.sources import DAY_US
from pkgate.ingest import enrich
from pkgate.ingest.enrich import IngestEnricher, _RunKeyHasher

TODAY = 20_500
NOW = TODAY * DAY_US + 12 * 3600 * 10**6
DAYS = [TODAY - 3, TODAY - 2, TODAY - 1, TODAY]

# (peer, forwarded-for) -> the client address, worked out by hand (10.0.0.0/8 are our proxies).
FIXED: dict[tuple[str, str | None], str] = {
    ("8.8.8.8", None): "8.8.8.8",
    ("81.2.69.160", None): "81.2.69.160",
    ("1.1.1.1", None): "1.1.1.1",
    ("173.245.48.9", None): "173.245.48.9",  # a cloud range
    ("2001:4860:4860::8888", None): "2001:4860:4860::8888",
    ("2a00:1450:4001:82b::200e", None): "2a00:1450:4001:82b::200e",
    ("2400:cb00::5", None): "2400:cb00::5",  # a cloud range
    ("::ffff:81.2.69.160", None): "::ffff:81.2.69.160",
    ("10.9.1.1", None): "10.9.1.1",  # private, in a cloud range
    ("192.168.0.1", None): "192.168.0.1",
    ("fe80::1", None): "fe80::1",
    ("::1", None): "::1",
    ("10.0.0.5", None): "10.0.0.5",  # a proxy, forwarding nothing
    ("10.0.0.5", "81.2.69.160"): "81.2.69.160",  # also seen directly
    ("10.0.0.6", "10.0.0.7, 8.8.4.4"): "8.8.4.4",
    ("8.8.4.4", "1.1.1.1"): "8.8.4.4",  # not our proxy: its header is the client's say
}


def _cfg(tmp_path: Path) -> Config:
    ranges = tmp_path / "cloudflare.txt"
    ranges.write_text("173.245.48.0/20\n2400:cb00::/32\n10.9.0.0/16\n")
    return Config(
        storage=Storage(data_dir=str(tmp_path / "data")),
        privacy=Privacy(trusted_proxies=["10.0.0.0/8"], cloud_ranges=[str(ranges)]),
    )


def _clients(seed: int) -> dict[tuple[str, str | None], str]:
    """FIXED and random IPv4 and IPv6 addresses (global or not, as they fall)."""
    rng = random.Random(seed)
    out = dict(FIXED)
    for _ in range(150):
        ip = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        if not ip.startswith("10."):
            out[ip, None] = ip
    for _ in range(50):
        ip = str(ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(125)))  # in 2000::/3 and 4000::/3
        out[ip, None] = ip
    return out


def _log_keys(clients: dict[tuple[str, str | None], str], seed: int) -> list[tuple[int, str, str | None]]:
    """Each client on two to four days, days in order, and some keys asked for again."""
    rng = random.Random(seed)
    on = {c: sorted(rng.sample(DAYS, rng.randint(2, 4))) for c in clients}
    keys = []
    for day in DAYS:
        today = [(day, peer, fwd) for (peer, fwd), days in on.items() if day in days]
        keys += today + rng.sample(today, len(today) // 3)
    return keys


def _expected(cfg: Config, secret: bytes, keys: Sequence[tuple[int, str, str | None]],
              clients: dict[tuple[str, str | None], str]) -> list[tuple[Any, ...]]:  # fmt: skip
    gateway = Enricher(cfg.data_dir, cloud_ranges=[Path(p) for p in cfg.privacy.cloud_ranges], cache_size=1)
    older = Enricher(cfg.data_dir, cloud_ranges=[Path(p) for p in cfg.privacy.cloud_ranges], cache_size=1)
    older.hasher = _RunKeyHasher(cfg.paths.keys, None, secret)
    older.hasher.ids("0.0.0.0", NOW)  # as the ingest: today is the newest day
    out = []
    for day, peer, fwd in keys:
        use = gateway if day >= TODAY - 1 else older
        ts = day * DAY_US + 5 * 3600 * 10**6  # any time of the day
        out.append(msgspec.structs.astuple(use.facts(clients[peer, fwd], ts)))
    gateway.close()
    older.close()
    return out


def _counted(monkeypatch: pytest.MonkeyPatch, ingest: IngestEnricher) -> Counter[str]:
    """Calls of the real lookup per address."""
    calls: Counter[str] = Counter()
    real = ingest.enricher.geo.lookup

    def lookup(ip: str) -> GeoFacts:
        calls[ip] += 1
        return real(ip)

    monkeypatch.setattr(ingest.enricher.geo, "lookup", lookup)
    return calls


@pytest.mark.parametrize("seed", [1, 2])
def test_rows_are_the_enrichers_and_each_address_is_looked_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    cfg = _cfg(tmp_path)
    secret = os.urandom(32)
    clients = _clients(seed)
    keys = _log_keys(clients, seed)
    ingest = IngestEnricher(cfg, secret, NOW)
    calls = _counted(monkeypatch, ingest)
    got = [ingest.row(k) for k in keys]
    ingest.close()

    assert got == _expected(cfg, secret, keys, clients)
    assert calls == Counter(set(clients.values()))  # once each, across days and forwarders
    # The cache gave an address's facts to other days, not its ids.
    ids = {(k[0], clients[k[1], k[2]]): row[:2] for k, row in zip(keys, got, strict=True)}
    for ip in ("8.8.8.8", "2001:4860:4860::8888", "192.168.0.1"):
        on = [ids[d, ip] for d in DAYS if (d, ip) in ids]
        assert len(on) >= 2
        assert len(set(on)) == len(on)
    facts = {k[1:]: row[2:] for k, row in zip(keys, got, strict=True)}
    assert facts["8.8.8.8", None] == ("US", 15169, "Google LLC", None)
    assert facts["10.9.1.1", None] == (None, None, None, "cloudflare")
    assert facts["10.0.0.5", "81.2.69.160"] == ("GB", 20712, "Andrews & Arnold Ltd", None)


def test_the_geo_cache_is_bounded_oldest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enrich, "GEO_MAX", 2)
    cfg = _cfg(tmp_path)
    secret = os.urandom(32)
    ingest = IngestEnricher(cfg, secret, NOW)
    calls = _counted(monkeypatch, ingest)
    order = ["8.8.8.8", "1.1.1.1", "8.8.8.8", "81.2.69.160", "1.1.1.1", "8.8.8.8", "1.1.1.1"]
    keys = [(DAYS[i % 4], ip, None) for i, ip in enumerate(order)]
    got = [ingest.row(k) for k in keys]
    ingest.close()
    assert got == _expected(cfg, secret, keys, {(ip, None): ip for ip in order})
    # A hit does not renew 8.8.8.8: first in, it is first out for 81.2.69.160; back, it pushes
    # out 1.1.1.1, the oldest then.
    assert calls == {"8.8.8.8": 2, "1.1.1.1": 2, "81.2.69.160": 1}
    assert len(ingest._geo) == 2


def test_a_failed_lookup_keeps_the_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _cfg(tmp_path)
    secret = os.urandom(32)
    ingest = IngestEnricher(cfg, secret, NOW)
    real = ingest.enricher.geo.lookup

    def lookup(ip: str) -> GeoFacts:
        if ip == "8.8.8.8":
            raise RuntimeError("a bug")
        return real(ip)

    monkeypatch.setattr(ingest.enricher.geo, "lookup", lookup)
    keys = [(day, ip, None) for day in DAYS for ip in ("8.8.8.8", "1.1.1.1")]
    with caplog.at_level(logging.ERROR, logger="pkgate.enrich.geo"):
        got = [ingest.row(k) for k in keys]
    ingest.close()
    want = _expected(cfg, secret, keys, {(ip, None): ip for _, ip, _ in keys})
    for key, row, expected in zip(keys, got, want, strict=True):
        if key[1] == "8.8.8.8":
            assert row == (*expected[:2], None, None, None, None)
        else:
            assert row == expected
    assert [r.getMessage() for r in caplog.records] == ["geo lookup failed"]  # logged once, not daily
