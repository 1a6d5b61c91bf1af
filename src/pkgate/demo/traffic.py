"""The demo's simulated clients: who asks for what, when, from where, with which User-Agent.

A seeded plan of `Visit`s over a few simulated days — the kinds of sources the insights tell apart:
a production deploy polling on a schedule (mostly 304s), a CI job downloading fresh on every run from
cloud addresses, developers on laptops in several countries (working hours, pip and uv, several
versions), a mirror fetching whole projects daily, a crawler reading every page, one-off installs,
and one misconfigured source downloading the same file over and over. Developers and one-off
installs fetch what the project they install requires right after it, in the same session, as a
resolver does (so the dependency insights have something to say). Addresses are public ones of
those countries (so the offline country lookup has something to say); they are only ever sent as
`X-Forwarded-For` to the local gateway, which hashes them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

__all__ = ["Visit", "closure", "plan", "user_agent"]

HOUR_US: Final = 3_600_000_000
DAY_US: Final = 24 * HOUR_US


class Visit(NamedTuple):
    """One client action: fetch a project page, then maybe its metadata and a file."""

    ts_us: int
    client: str  # which simulated client (for the summary), e.g. "ci" or "dev-de"
    ip: str
    user_agent: str
    project: str
    version: str | None = None  # None: the newest
    download: bool = True
    metadata: bool = False  # PEP 658 metadata before the file (as pip and uv do)
    revalidate: bool = False  # send If-None-Match with the page's ETag (a poller's cache)
    all_files: bool = False  # a mirror: every file of the project


_OS: Final = {
    "linux": ({"name": "Linux", "release": "6.1.0-18-amd64"}, {"name": "Debian GNU/Linux", "version": "12", "id": "bookworm", "libc": {"lib": "glibc", "version": "2.36"}}, "x86_64"),
    "ubuntu": ({"name": "Linux", "release": "5.15.0-91-generic"}, {"name": "Ubuntu", "version": "22.04", "id": "jammy", "libc": {"lib": "glibc", "version": "2.35"}}, "x86_64"),
    "macos": ({"name": "Darwin", "release": "23.4.0"}, {"name": "macOS", "version": "14.4.1"}, "arm64"),
    "windows": ({"name": "Windows", "release": "10"}, None, "AMD64"),
}  # fmt: skip


def user_agent(installer: str, version: str, python: str, os_name: str, ci: bool = False) -> str:
    """A pip- or uv-style `name/version {json}` User-Agent (the shape linehaul parses)."""
    system, distro, cpu = _OS[os_name]
    data: dict[str, object] = {
        "ci": True if ci else None,
        "cpu": cpu,
        "implementation": {"name": "CPython", "version": python},
        "installer": {"name": installer, "version": version},
        "python": python,
        "system": system,
    }
    if distro is not None:
        data["distro"] = distro
    if installer == "pip":
        data["openssl_version"] = "OpenSSL 3.0.11 19 Sep 2023"
        data["setuptools_version"] = "69.0.3"
    return f"{installer}/{version} {json.dumps(data, sort_keys=True, separators=(',', ':'))}"


MIRROR_UA: Final = "bandersnatch/6.5.0 (CPython 3.11.8-final0, Linux x86_64)"
BOT_UA: Final = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BOT_IP: Final = "66.249.66.1"  # a crawler's published range

#: Developers' (country, address, OS, installer, python).
_DEVS: Final = (
    ("de", "85.214.132.117", "ubuntu", "pip", "3.12.2"),
    ("fr", "90.84.10.23", "macos", "uv", "3.12.2"),
    ("jp", "133.242.1.17", "macos", "pip", "3.11.8"),
    ("br", "177.71.128.40", "windows", "pip", "3.11.8"),
    ("in", "49.207.1.9", "ubuntu", "uv", "3.13.0"),
    ("gb", "81.2.69.142", "windows", "uv", "3.12.2"),
)
_ONE_OFF_NETS: Final = ("203.2.218.", "200.45.0.", "41.203.64.", "1.2.4.", "85.214.132.", "90.84.10.")
_CI_NETS: Final = ("20.42.0.", "20.42.1.", "20.42.2.")  # a CI provider's cloud range (several runners)
PROD_IP: Final = "3.80.0.10"
MIRROR_IP: Final = "34.64.0.5"
AGGRESSIVE_IP: Final = "95.173.136.77"


#: A resolver's pause between the files of one install (well inside one session).
RESOLVE_STEP_US: Final = 1_500_000


def closure(name: str, requires: Mapping[str, Sequence[str]]) -> list[str]:
    """What installing `name` pulls in, directly or not, in the order a resolver meets it."""
    out: list[str] = []
    todo = list(requires.get(name, ()))
    while todo:
        dep = todo.pop(0)
        if dep != name and dep not in out:
            out.append(dep)
            todo.extend(requires.get(dep, ()))
    return out


def _resolve(root: Visit, requires: Mapping[str, Sequence[str]]) -> list[Visit]:
    """`root`, then what it pulls in (newest versions, fetched fresh), a resolver's step apart."""
    return [root] + [
        root._replace(ts_us=root.ts_us + k * RESOLVE_STEP_US, project=dep, version=None, revalidate=False)
        for k, dep in enumerate(closure(root.project, requires), start=1)
    ]


def _squeeze(first: int, step: int, count: int, start_us: int, now_us: int) -> tuple[int, int]:
    """(first, step) of `count` visits moved, and packed closer if need be, to end by `now_us`."""
    if first + (count - 1) * step <= now_us:
        return first, step
    first = max(start_us, now_us - (count - 1) * step)
    return first, min(step, (now_us - first) // max(1, count - 1))


def plan(
    projects: dict[str, list[str]],
    start_us: int,
    days: int,
    now_us: int,
    seed: int = 7,
    requires: Mapping[str, Sequence[str]] | None = None,
) -> list[Visit]:
    """Every visit from `start_us` over `days` days (none after `now_us`), in time order.

    `projects` maps each project to its versions, oldest first; `requires` each project to the
    served projects it requires (developers and one-off installs fetch those too).
    """
    served = {k: [d for d in v if d in projects] for k, v in (requires or {}).items()}
    rnd = random.Random(seed)
    names = sorted(projects)
    out: list[Visit] = []
    deployed = names[0]
    ci_needs = names[: min(3, len(names))]
    ci_ua = user_agent("pip", "24.0", "3.12.2", "ubuntu", ci=True)
    prod_ua = user_agent("pip", "23.3.1", "3.11.8", "linux")
    for day in range(days):
        base = start_us + day * DAY_US
        # Production deploy: polls its one pinned project every 10 minutes; downloads once a day.
        for i in range(0, 24 * 6):
            ts = base + i * 600_000_000 + rnd.randrange(0, 2_000_000)
            out.append(
                Visit(ts, "prod", PROD_IP, prod_ua, deployed, projects[deployed][0], i == 0, False, i > 0)
            )
        # CI: a build every 2 hours on a fresh runner, fresh downloads of every requirement.
        for i in range(12):
            ts = base + i * 2 * HOUR_US + rnd.randrange(0, 600_000_000)
            ip = rnd.choice(_CI_NETS) + str(rnd.randrange(2, 250))
            for j, name in enumerate(ci_needs):
                out.append(Visit(ts + j * 1_500_000, "ci", ip, ci_ua, name, None, True, True))
        # Developers: each works on one project a day, in several irregular sessions of their
        # working hours, trying different versions (the page is revalidated when they have it).
        for offset, (cc, ip, os_name, inst, py) in enumerate(_DEVS):
            ua = user_agent(inst, "24.0" if inst == "pip" else "0.4.18", py, os_name)
            name = rnd.choice(names)
            hours = sorted(8 + offset % 3 + rnd.random() * 9 for _ in range(rnd.randrange(3, 7)))
            for hour in hours:
                version = rnd.choice(projects[name])
                ts = base + round(hour * HOUR_US)
                out.extend(
                    _resolve(
                        Visit(ts, f"dev-{cc}", ip, ua, name, version, True, True, rnd.random() < 0.5),
                        served,
                    )
                )
        # A mirror: every file of every project, once a day at 03:00 (on the last day, in the hours
        # so far when 03:00 has not come yet: every project then has a download).
        at, step = base + 3 * HOUR_US, 5_000_000
        if day == days - 1 and base <= now_us:
            at, step = _squeeze(at, step, len(names), base, now_us)
        for j, name in enumerate(names):
            out.append(Visit(at + j * step, "mirror", MIRROR_IP, MIRROR_UA, name, all_files=True))
        # A crawler: every project page, no download, once a day at 05:00 (a bot by its User-Agent).
        for j, name in enumerate(names):
            out.append(Visit(base + 5 * HOUR_US + j * 2_000_000, "bot", BOT_IP, BOT_UA, name, download=False))
        # One-off installs from around the world.
        for _ in range(rnd.randrange(4, 9)):
            ip = rnd.choice(_ONE_OFF_NETS) + str(rnd.randrange(2, 250))
            ua = user_agent(rnd.choice(("pip", "uv")), "24.0", "3.12.2", rnd.choice(list(_OS)))
            out.extend(
                _resolve(Visit(base + rnd.randrange(0, DAY_US), "one-off", ip, ua, rnd.choice(names)), served)
            )
    # The misconfigured source: the same file every 30 s for three hours on the middle day, or
    # squeezed into the hours so far when that is the only day and 14:00 UTC has not come yet (a
    # one-day demo run in the morning still shows it).
    loop_ua = user_agent("pip", "24.0", "3.10.12", "ubuntu")
    target = names[-1]
    first, step = start_us + (days // 2) * DAY_US + 14 * HOUR_US, 30_000_000
    first, step = _squeeze(first, step, 360, start_us, now_us)
    for i in range(360):
        out.append(
            Visit(first + i * step, "aggressive", AGGRESSIVE_IP, loop_ua, target, projects[target][-1])
        )
    out = [v for v in out if v.ts_us <= now_us]
    out.sort(key=lambda v: v.ts_us)
    return out


def by_day(visits: Sequence[Visit]) -> list[list[Visit]]:
    """Visits grouped by UTC day, in order (the gateway keeps only today's and yesterday's keys)."""
    groups: dict[int, list[Visit]] = {}
    for v in visits:
        groups.setdefault(v.ts_us // DAY_US, []).append(v)
    return [groups[d] for d in sorted(groups)]
