"""Fleet mode: one daily source-id key for every gateway, through a NATS JetStream key-value bucket.

Without it each gateway hashes with its own key and the same client counts once per gateway. The
supervisor of each gateway fetches today's and tomorrow's keys from the bucket (the first gateway to
ask creates them, atomically) and installs them as the local key files its workers already read.
The bucket's TTL (3 days) deletes keys in NATS as the local purge deletes them on disk, so after
that nobody can link ids to addresses or across days. If NATS is unreachable when a day starts, that
gateway's workers create a local key for the day and its uniques are counted apart for that day.

The week and month keys of the HyperLogLog marks travel the same way through a second bucket
(`PERIOD_BUCKET`): its TTL covers the longest month, and every sync also purges the keys of periods
that ended before yesterday, so a period key is gone from NATS when it is gone from disk.
"""

from __future__ import annotations

from pathlib import Path

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from pkgate.enrich.sources import DAY_US, KEY_BYTES, PERIODS, day_name, load_or_create_key, period_of
from pkgate.fsutil import atomic_write

BUCKET = "PKGATE_KEYS"
TTL_S = 3 * 86_400
PERIOD_BUCKET = "PKGATE_PERIOD_KEYS"
PERIOD_TTL_S = 33 * 86_400


async def _bucket(js: JetStreamContext, bucket: str, ttl: int = TTL_S) -> KeyValue:
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        return await js.create_key_value(KeyValueConfig(bucket=bucket, history=1, ttl=ttl))


async def _agree(kv: KeyValue, name: str, path: Path) -> bool:
    """The fleet's key `name` installed at `path` (offering ours if the fleet has none)."""
    try:
        shared = (await kv.get(name)).value
    except KeyNotFoundError:
        local = load_or_create_key(path)  # offer ours (or a fresh one) to the fleet
        try:
            await kv.create(name, local)
            shared = local
        except KeyWrongLastSequenceError:  # another gateway was first
            shared = (await kv.get(name)).value
    if shared is None or len(shared) != KEY_BYTES:
        return False
    if load_or_create_key(path, shared) != shared:
        # A local key made before the fleet agreed (NATS was down): the fleet's wins from now on.
        atomic_write(path, shared)
    return True


async def sync_day_keys(js: JetStreamContext, keys_dir: Path, now_us: int, bucket: str = BUCKET) -> list[str]:
    """Agree on today's and tomorrow's keys with the fleet; install them locally. Returns the days."""
    kv = await _bucket(js, bucket)
    days = []
    for day in (now_us // DAY_US, now_us // DAY_US + 1):
        name = day_name(day)
        if await _agree(kv, name, keys_dir / f"{name}.key"):
            days.append(name)
    return days


async def sync_period_keys(
    js: JetStreamContext, keys_dir: Path, now_us: int, bucket: str = PERIOD_BUCKET
) -> list[str]:
    """Agree on the week and month keys of today and tomorrow; purge those of ended periods."""
    kv = await _bucket(js, bucket, PERIOD_TTL_S)
    today = now_us // DAY_US
    names: list[str] = []
    for day in (today, today + 1):
        for kind in PERIODS:
            name = f"{kind}-{day_name(period_of(kind, day)[0])}"
            if name not in names and await _agree(kv, name, keys_dir / f"{name}.key"):
                names.append(name)
    for kind in PERIODS:  # the period before the current one, once it ended before yesterday
        prev_first, prev_last = period_of(kind, period_of(kind, today)[0] - 1)
        if prev_last < today - 1:
            await kv.purge(f"{kind}-{day_name(prev_first)}")
    return names
