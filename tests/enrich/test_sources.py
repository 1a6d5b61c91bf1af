"""Source ids: stable within a UTC day, unlinkable across days, one shared key per day on disk."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pathlib
import re
import stat
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.enrich.sources import DAY_US, SourceHasher, load_or_create_key, network_of, normalise_ip
from pkgate.errors import ConfigError

DAY = 20_000  # 2024-10-04
TS = DAY * DAY_US + 12 * 3600 * 1_000_000
HEX20 = re.compile(r"^[0-9a-f]{20}$")


def _names(keys: pathlib.Path) -> set[str]:
    return {p.name for p in keys.iterdir()}


def test_ids_stable_within_a_day_and_across_instances(tmp_path: pathlib.Path) -> None:
    a = SourceHasher(tmp_path / "keys")
    b = SourceHasher(tmp_path / "keys")
    first = a.ids("203.0.113.7", DAY * DAY_US)
    assert a.ids("203.0.113.7", DAY * DAY_US + DAY_US - 1) == first
    assert b.ids("203.0.113.7", TS) == first
    assert all(HEX20.match(x) for x in first)
    assert _names(tmp_path / "keys") == {"2024-10-04.key"}


def test_ids_differ_across_days_and_keys_differ(tmp_path: pathlib.Path) -> None:
    h = SourceHasher(tmp_path / "keys")
    today = h.ids("203.0.113.7", TS)
    tomorrow = h.ids("203.0.113.7", TS + DAY_US)
    assert today[0] != tomorrow[0]
    assert today[1] != tomorrow[1]
    keys = tmp_path / "keys"
    assert (keys / "2024-10-04.key").read_bytes() != (keys / "2024-10-05.key").read_bytes()


def test_address_and_network_ids(tmp_path: pathlib.Path) -> None:
    h = SourceHasher(tmp_path / "keys")
    s1, n1 = h.ids("198.51.100.1", TS)
    s2, n2 = h.ids("198.51.100.254", TS)
    _, n3 = h.ids("198.51.101.1", TS)
    assert s1 != s2
    assert n1 == n2
    assert n1 != n3
    assert h.ids("::ffff:198.51.100.1", TS) == (s1, n1)
    v6a = h.ids("2001:db8:1:2::1", TS)
    v6b = h.ids("2001:DB8:1:ffff:0:0:0:1", TS)
    assert v6a[0] != v6b[0]
    assert v6a[1] == v6b[1]
    assert h.ids("2001:0db8:0001:0002:0000:0000:0000:0001", TS) == v6a
    assert h.ids("2001:db8:2::1", TS)[1] != v6a[1]
    assert h.ids("fe80::1%eth0", TS) == h.ids("fe80::1", TS)
    assert h.ids(" 198.51.100.1 ", TS) == (s1, n1)
    # A string is never taken for the address whose packed bytes it spells.
    assert h.ids("abcd", TS) != h.ids("97.98.99.100", TS)
    # An address never hashes like a network, even when the texts coincide.
    assert h.ids("garbage", TS)[0] != h.ids("garbage", TS)[1]


def test_normalise_ip() -> None:
    assert normalise_ip("::ffff:1.2.3.4") == ("1.2.3.4", "1.2.3.0/24")
    assert normalise_ip(" 10.9.8.7 ") == ("10.9.8.7", "10.9.8.0/24")
    assert normalise_ip("fe80::1%eth0") == ("fe80::1", "fe80::/48")
    assert normalise_ip("2001:db8:aaaa:bbbb::1") == ("2001:db8:aaaa:bbbb::1", "2001:db8:aaaa::/48")
    assert normalise_ip("not an ip") == ("not an ip", "not an ip")
    assert network_of("192.0.2.99") == "192.0.2.0/24"


def test_key_file_is_private(tmp_path: pathlib.Path) -> None:
    SourceHasher(tmp_path / "keys").ids("192.0.2.1", TS)
    path = tmp_path / "keys" / "2024-10-04.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32


def test_purge_keeps_yesterday_today_tomorrow(tmp_path: pathlib.Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for day in range(1, 10):
        (keys / f"2024-10-0{day}.key").write_bytes(os.urandom(32))
    (keys / "window-7d-2024-09-26.key").write_bytes(os.urandom(32))  # ends 2024-10-02
    (keys / "window-7d-2024-10-03.key").write_bytes(os.urandom(32))  # ends 2024-10-09
    (keys / "unrelated.txt").write_text("not ours")
    stale_tmp = keys / ".tmp-1-abc"
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (0, 0))
    fresh_tmp = keys / ".tmp-2-def"
    fresh_tmp.write_bytes(b"x")
    deleted = SourceHasher(keys).purge_old_keys(TS)  # today is 2024-10-04
    assert {p.name for p in deleted} == {
        "2024-10-01.key", "2024-10-02.key", "2024-10-06.key", "2024-10-07.key", "2024-10-08.key",
        "2024-10-09.key", "window-7d-2024-09-26.key", ".tmp-1-abc",
    }  # fmt: skip
    assert _names(keys) == {
        "2024-10-03.key", "2024-10-04.key", "2024-10-05.key", "window-7d-2024-10-03.key",
        "unrelated.txt", ".tmp-2-def",
    }  # fmt: skip


def test_purge_of_missing_dir_is_empty(tmp_path: pathlib.Path) -> None:
    assert SourceHasher(tmp_path / "nope").purge_old_keys(TS) == []


def test_rotation_purges_and_never_recreates_destroyed_keys(tmp_path: pathlib.Path) -> None:
    keys = tmp_path / "keys"
    h = SourceHasher(keys)
    old = h.ids("192.0.2.1", TS)
    assert h.ids("192.0.2.1", TS + 2 * DAY_US) != old
    assert _names(keys) == {"2024-10-06.key"}
    # A late event of the destroyed day gets an id unrelated to the original and creates no file.
    assert h.ids("192.0.2.1", TS) != old
    assert _names(keys) == {"2024-10-06.key"}
    # Yesterday is still served from its (kept) key.
    yesterday = h.ids("192.0.2.1", TS + DAY_US)
    assert SourceHasher(keys).ids("192.0.2.1", TS + DAY_US) == yesterday


def test_window_ids(tmp_path: pathlib.Path) -> None:
    keys = tmp_path / "keys"
    h = SourceHasher(keys, window_days=30)
    block = DAY // 30 * 30
    first = h.window_ids("192.0.2.1", block * DAY_US)
    assert h.window_ids("192.0.2.1", (block + 29) * DAY_US) == first
    assert SourceHasher(keys, window_days=30).window_ids("192.0.2.1", (block + 5) * DAY_US) == first
    assert h.window_ids("192.0.2.1", (block + 30) * DAY_US) != first
    assert h.ids("192.0.2.1", block * DAY_US) != first
    assert any(n.startswith("window-30d-") for n in _names(keys))


def test_window_configuration(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="window_days"):
        SourceHasher(tmp_path, window_days=-1)
    with pytest.raises(ConfigError, match="window_days"):
        SourceHasher(tmp_path, window_days=1000)
    off = SourceHasher(tmp_path, window_days=0)
    assert off.window_days is None
    with pytest.raises(ConfigError, match="window_days"):
        off.window_ids("192.0.2.1", TS)


def test_damaged_key_file_does_not_raise(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "2024-10-04.key").write_bytes(b"short")
    h = SourceHasher(keys)
    with caplog.at_level(logging.WARNING):
        ids = h.ids("192.0.2.1", TS)
    assert "damaged" in caplog.text
    assert h.ids("192.0.2.1", TS + 1) == ids
    assert (keys / "2024-10-04.key").read_bytes() == b"short"


def test_unusable_keys_dir_does_not_raise(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "keys"
    blocker.write_text("a file where the directory should be")
    h = SourceHasher(blocker)
    a = h.ids("192.0.2.1", TS)
    assert h.ids("192.0.2.1", TS) == a
    assert all(HEX20.match(x) for x in a)


def test_timestamps_out_of_calendar_do_not_raise(tmp_path: pathlib.Path) -> None:
    h = SourceHasher(tmp_path / "keys", window_days=7)
    for ts in (10**30, -(10**30)):
        assert all(HEX20.match(x) for x in h.ids("192.0.2.1", ts))
        assert all(HEX20.match(x) for x in h.window_ids("192.0.2.1", ts))
    assert not (tmp_path / "keys").exists() or _names(tmp_path / "keys") == set()


@settings(max_examples=200, deadline=None)
@given(ip=st.one_of(st.text(max_size=60), st.ip_addresses().map(str)), offset=st.integers(0, DAY_US - 1))
def test_any_string_gets_stable_ids(tmp_path_factory: pytest.TempPathFactory, ip: str, offset: int) -> None:
    keys = tmp_path_factory.getbasetemp() / "prop-keys"
    cached = SourceHasher(keys)
    uncached = SourceHasher(keys, cache_size=0)
    ids = cached.ids(ip, DAY * DAY_US + offset)
    assert all(HEX20.match(x) for x in ids)
    assert uncached.ids(ip, DAY * DAY_US) == ids
    assert cached.ids(ip, DAY * DAY_US + offset) == ids


def _race(keys: str, rounds: int, barrier: Barrier, out: Queue[list[bytes]]) -> None:
    """Child process: wait for the others, then create or read a series of key files at once."""
    barrier.wait(timeout=60)
    out.put([load_or_create_key(pathlib.Path(keys) / f"2024-10-{d:02d}.key") for d in range(1, rounds + 1)])


def test_concurrent_processes_agree_on_one_key(tmp_path: pathlib.Path) -> None:
    keys = tmp_path / "keys"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    out: Queue[list[bytes]] = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(keys), 25, barrier, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
        assert proc.exitcode == 0
    assert all(r == results[0] for r in results)
    assert len(set(results[0])) == 25
    assert sorted(p.name for p in keys.iterdir()) == [f"2024-10-{d:02d}.key" for d in range(1, 26)]
    assert (keys / "2024-10-04.key").read_bytes() == results[0][3]
