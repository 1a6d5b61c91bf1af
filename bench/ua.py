"""User-Agent parsing speed and coverage: pkgate.enrich.ua against linehaul==1.0.3.

The input is a seeded synthetic mix shaped like index traffic (mostly pip/uv JSON blobs, then
other installers, browsers, bots, scripts and garbage), about 60 % distinct. The headline,
`ratio_cold`, parses every distinct UA once with empty caches: a warm cache only measures a dict
lookup, so the warm figure is printed separately and never used as the ratio.

Run: .venv/bin/python bench/ua.py [--n 20000] [--seed 1] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any, TypeVar

from pkgate.enrich.ua import clear_cache, parse, parse_cached

Gen = Callable[[random.Random], str]
T = TypeVar("T")


def _pick(r: random.Random, *options: T) -> T:
    return options[r.randrange(len(options))]


def _ver(r: random.Random, major: Iterable[int], minor: int = 20, patch: int = 12) -> str:
    return f"{r.choice(list(major))}.{r.randrange(minor)}.{r.randrange(patch)}"


def _python(r: random.Random) -> str:
    return f"3.{r.randrange(7, 14)}.{r.randrange(0, 20)}"


def _platform(r: random.Random) -> dict[str, Any]:
    """system/distro/cpu as pip and uv report them."""
    kind = r.random()
    if kind < 0.65:
        name, ver, ident, lib = _pick(
            r,
            ("Ubuntu", _pick(r, "20.04", "22.04", "24.04"), _pick(r, "focal", "jammy", "noble"), "glibc"),
            ("Debian GNU/Linux", _pick(r, "11", "12"), _pick(r, "bullseye", "bookworm"), "glibc"),
            ("Alpine Linux", f"3.{r.randrange(15, 21)}.{r.randrange(5)}", None, "musl"),
            ("Amazon Linux", "2023", None, "glibc"),
            ("Rocky Linux", f"9.{r.randrange(5)}", "Blue Onyx", "glibc"),
            ("Fedora Linux", str(r.randrange(36, 41)), None, "glibc"),
        )
        release = f"{_pick(r, '5.15', '6.1', '6.5', '6.8')}.0-{r.randrange(1000, 1100)}-{_pick(r, 'aws', 'azure', 'generic', 'gcp')}"
        distro = {
            "name": name,
            "version": ver,
            "id": ident,
            "libc": {"lib": lib, "version": f"2.{r.randrange(28, 40)}"},
        }
        return {
            "system": {"name": "Linux", "release": release},
            "distro": distro,
            "cpu": _pick(r, "x86_64", "x86_64", "aarch64"),
        }
    if kind < 0.85:
        distro = {"name": "macOS", "version": f"{r.randrange(11, 16)}.{r.randrange(7)}"}
        return {
            "system": {"name": "Darwin", "release": f"{r.randrange(20, 25)}.{r.randrange(7)}.0"},
            "distro": distro,
            "cpu": _pick(r, "arm64", "x86_64"),
        }
    return {
        "system": {"name": "Windows", "release": _pick(r, "10", "11", "2022Server")},
        "distro": None,
        "cpu": _pick(r, "AMD64", "ARM64"),
    }


def _pip_json(r: random.Random) -> str:
    version = f"{r.randrange(19, 25)}.{r.randrange(4)}" + _pick(r, "", f".{r.randrange(1, 4)}")
    py = _python(r)
    pypy = r.random() < 0.04
    data: dict[str, Any] = {
        "ci": _pick(r, None, True),
        "implementation": {"name": "PyPy", "version": "7.3.15"}
        if pypy
        else {"name": "CPython", "version": py},
        "installer": {"name": "pip", "version": version},
        "openssl_version": f"OpenSSL 3.0.{r.randrange(2, 15)} {r.randrange(1, 28)} Jan 2024",
        "python": py,
        "setuptools_version": f"{r.randrange(58, 75)}.{r.randrange(5)}.{r.randrange(3)}",
        **_platform(r),
    }
    if data["distro"] is None:
        del data["distro"]
    if r.random() < 0.3:
        data["rustc_version"] = f"1.{r.randrange(60, 80)}.0"
    return f"pip/{version} " + json.dumps(data, sort_keys=True, separators=(",", ":"))


def _uv_json(r: random.Random) -> str:
    version = f"0.{r.randrange(2, 10)}.{r.randrange(30)}"  # the blob exists since 0.1.22
    py = _python(r)
    plat = _platform(r)
    installer: dict[str, Any] = {"name": "uv", "version": version}
    if r.random() < 0.5:
        installer["subcommand"] = _pick(r, ["pip", "install"], ["sync"], ["lock"], ["add"], ["tool", "run"])
    data = {
        "installer": installer,
        "python": py,
        "implementation": {"name": "CPython", "version": py},
        "distro": plat["distro"],
        "system": plat["system"],
        "cpu": plat["cpu"],
        "openssl_version": None,
        "setuptools_version": None,
        "rustc_version": None,
        "ci": _pick(r, None, True),
    }
    return f"uv/{version} " + json.dumps(data, separators=(",", ":"))


def _hatch_json(r: random.Random) -> str:
    py = _python(r)
    data = {
        "ci": None,
        "cpu": "x86_64",
        "implementation": {"name": "CPython", "version": py},
        "installer": {"name": "hatch", "version": "1.15.0"},
        "python": py,
        "system": {"name": "Linux", "release": "6.1.0"},
    }
    return "Hatch/1.15.0 " + json.dumps(data, sort_keys=True, separators=(",", ":")) + " HTTPX/0.27.0"


def _sysrel(r: random.Random) -> str:
    return _pick(
        r,
        f"Linux/{_pick(r, '5.15.0', '6.5.0-1016-azure', '6.8.0-45-generic')}",
        f"Darwin/{r.randrange(20, 25)}.{r.randrange(6)}.0",
        "Windows/10",
    )


def _poetry(r: random.Random) -> str:
    return f"poetry/{_pick(r, '1.8.3', '1.7.1', '2.0.1', '2.1.2')} CPython/{_python(r)} {_sysrel(r)}"


def _pdm(r: random.Random) -> str:
    return f"pdm/2.{r.randrange(10, 25)}.{r.randrange(4)} CPython/{_python(r)}" + _pick(
        r, "", f" {_sysrel(r)}"
    )


def _old_pip(r: random.Random) -> str:
    return f"pip/1.{r.randrange(4, 6)}.{r.randrange(7)} {_pick(r, 'CPython', 'PyPy')}/2.7.{r.randrange(18)} {_sysrel(r)}"


def _conda(r: random.Random) -> str:
    return (
        f"{_pick(r, 'conda', 'mamba')}/{r.randrange(4, 25)}.{r.randrange(12)}.{r.randrange(3)} requests/2.31.0 "
        f"CPython/{_python(r)} Linux/6.5.0 ubuntu/22.04 glibc/2.35 solver/libmamba"
    )


def _misc_installer(r: random.Random) -> str:
    return _pick(
        r,
        f"twine/{r.randrange(3, 6)}.{r.randrange(3)}.0 CPython/{_python(r)}",
        f"pixi/0.{r.randrange(20, 45)}.{r.randrange(3)}",
        f"pex/2.{r.randrange(30)}.0",
        f"Python-urllib/3.{r.randrange(6, 12)} setuptools/{r.randrange(30, 70)}.0",
        f"bandersnatch/6.{r.randrange(6)}.0 (CPython {_python(r)}-final0, Linux x86_64)",
        f"devpi-server/6.{r.randrange(12)}.0 (py{_python(r)}; linux)",
        f"Artifactory/7.{r.randrange(90)}.{r.randrange(12)}",
        f"Nexus/3.{r.randrange(70)}.0-0{r.randrange(9)} (OSS; Linux; 5.15.0; amd64; 17.0.9)",
        f"Homebrew/4.{r.randrange(4)}.{r.randrange(30)} (Macintosh; arm64 Mac OS X 14.{r.randrange(5)}) curl/8.4.0",
        f"Bazel/release 7.{r.randrange(4)}.{r.randrange(3)}",
        "fetch libfetch/2.0",
    )


def _browser(r: random.Random) -> str:
    chrome = f"{r.randrange(100, 131)}.0.{r.randrange(6000, 6800)}.{r.randrange(200)}"
    return _pick(
        r,
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome} Safari/537.36",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome} Safari/537.36",
        f"Mozilla/5.0 (X11; Linux x86_64; rv:{r.randrange(110, 133)}.0) Gecko/20100101 Firefox/{r.randrange(110, 133)}.0",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{r.randrange(6)} Safari/605.1.15",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{chrome} Safari/537.36 Edg/{chrome}",
    )


def _bot(r: random.Random) -> str:
    return _pick(
        r,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        f"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/{r.randrange(100, 131)}.0.0.0 Safari/537.36",
        f"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/) id{r.randrange(10**6)}",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        f"Datadog Agent/7.{r.randrange(60)}.0",
        f"Renovate/{r.randrange(30, 40)}.{r.randrange(400)}.0",
        "Debian uscan/2.23.7",
    )


def _script(r: random.Random) -> str:
    return _pick(
        r,
        f"python-requests/2.{r.randrange(20, 33)}.{r.randrange(4)}",
        f"python-httpx/0.{r.randrange(20, 29)}.{r.randrange(3)}",
        f"curl/{r.randrange(7, 9)}.{r.randrange(90)}.{r.randrange(3)}",
        f"Wget/1.{r.randrange(19, 25)}.{r.randrange(4)} (linux-gnu)",
        f"Python/3.{r.randrange(8, 13)} aiohttp/3.{r.randrange(7, 11)}.{r.randrange(6)}",
        f"Python-urllib/3.{r.randrange(6, 13)}",
        "Go-http-client/1.1",
        f"Apache-HttpClient/4.5.{r.randrange(14)} (Java/17.0.{r.randrange(10)})",
    )


def _garbage(r: random.Random) -> str:
    kind = r.randrange(6)
    if kind == 0:
        return "".join(chr(r.randrange(32, 127)) for _ in range(r.randrange(1, 60)))
    if kind == 1:
        return _pip_json(r)[: r.randrange(20, 200)]  # cut by a proxy
    if kind == 2:
        return bytes(r.randrange(256) for _ in range(r.randrange(1, 80))).decode("latin-1")
    if kind == 3:
        return _pick(r, "", "-", "(null)", "Java/1.8.0_392", "okhttp/4.12.0") + " " * r.randrange(3)
    if kind == 4:
        return "A" * r.randrange(1500, 5000)
    return f"{r.choice('abcdefghijklmnop')}{r.randrange(10**6)}/{r.randrange(100)}.0 (internal build)"


MIX: tuple[tuple[float, Gen], ...] = (
    (0.46, _pip_json),
    (0.20, _uv_json),
    (0.01, _hatch_json),
    (0.04, _poetry),
    (0.02, _pdm),
    (0.02, _old_pip),
    (0.02, _conda),
    (0.04, _misc_installer),
    (0.07, _browser),
    (0.04, _bot),
    (0.05, _script),
    (0.03, _garbage),
)


def generate(n: int, seed: int, fresh_share: float = 0.6) -> list[str]:
    """`n` UAs, about `fresh_share` of them distinct; repeats favour already frequent UAs."""
    r = random.Random(seed)
    weights = [w for w, _ in MIX]
    gens = [g for _, g in MIX]
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(n):
        if out and r.random() >= fresh_share:
            out.append(r.choice(out))
            continue
        for _attempt in range(20):
            ua = r.choices(gens, weights)[0](r)
            if ua not in seen:
                break
        seen.add(ua)
        out.append(ua)
    return out


_REJECTED = object()  # linehaul raised UnknownUserAgentError (or crashed)


def _linehaul() -> Callable[[str], object]:
    state = random.getstate()
    random.seed(0)  # linehaul shuffles its parsers at import: fix the order for repeatable runs
    from linehaul.ua import parser as lh

    random.setstate(state)
    # Silence its per-failure error logging (cheaper for linehaul, and keeps the output readable).
    logging.getLogger("linehaul").setLevel(logging.CRITICAL + 1)

    def run(ua: str) -> object:
        try:
            return lh.parse(ua)  # None: a UA linehaul deliberately ignores
        except Exception:
            return _REJECTED

    return run


def _seconds(fn: Callable[[str], object], uas: list[str], reset: Callable[[], None]) -> float:
    """CPU seconds of this process (not wall time: other jobs on the machine do not count)."""
    reset()
    start = time.process_time()
    for ua in uas:
        fn(ua)
    return time.process_time() - start


def _rates(
    runs: list[tuple[Callable[[str], object], Callable[[], None]]], uas: list[str], repeat: int
) -> list[float]:
    """UA/s of each run, best of `repeat`, interleaved so both parsers see the same conditions."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for i, (fn, reset) in enumerate(runs):
            best[i] = min(best[i], _seconds(fn, uas, reset))
    return [len(uas) / b for b in best]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=20000, help="number of UAs in the mix")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5, help="best of this many timed runs")
    args = ap.parse_args(argv)

    uas = generate(args.n, args.seed)
    distinct = list(dict.fromkeys(uas))
    lh_parse = _linehaul()
    lh_cached = lru_cache(maxsize=65536)(lh_parse)
    print(f"mix: {len(uas)} UAs, {len(distinct)} distinct ({len(distinct) / len(uas):.0%})")

    ours_unknown = sum(parse(ua).category == "unknown" for ua in uas) / len(uas)
    lh_results = [lh_parse(ua) for ua in uas]
    lh_unknown = sum(r is None or r is _REJECTED for r in lh_results) / len(uas)
    lh_rejected = sum(r is _REJECTED for r in lh_results) / len(uas)
    lh_ok = {ua for ua, r in zip(uas, lh_results, strict=True) if r is not None and r is not _REJECTED}
    easy = [ua for ua in distinct if ua in lh_ok]

    def nothing() -> None:
        return None

    cold = _rates([(parse, nothing), (lh_parse, nothing)], distinct, args.repeat)
    stream = _rates([(parse_cached, clear_cache), (lh_cached, lh_cached.cache_clear)], uas, args.repeat)
    for ua in uas:  # fill both caches, then time the mix again
        parse_cached(ua)
        lh_cached(ua)
    warm = _rates([(parse_cached, nothing), (lh_cached, nothing)], uas, args.repeat)
    easy_rates = _rates([(parse, nothing), (lh_parse, nothing)], easy, args.repeat)
    rows = [
        ("pkgate", cold[0], stream[0], warm[0], ours_unknown),
        ("linehaul", cold[1], stream[1], warm[1], lh_unknown),
    ]

    print(f"{'parser':<10} {'cold UA/s':>12} {'stream UA/s':>12} {'warm UA/s':>12} {'unparsed':>9}")
    for label, cold_rate, stream_rate, warm_rate, unparsed in rows:
        print(f"{label:<10} {cold_rate:>12,.0f} {stream_rate:>12,.0f} {warm_rate:>12,.0f} {unparsed:>9.1%}")
    print("cold: each distinct UA once, empty caches; stream: the whole mix through an LRU that")
    print("starts empty (linehaul given the same functools.lru_cache); warm: the mix again.")
    print("UA/s from process CPU time, best of --repeat runs, the two parsers interleaved.")
    print(
        f"linehaul unparsed = {lh_rejected:.1%} rejected (UnknownUserAgentError)"
        f" + {lh_unknown - lh_rejected:.1%} ignored (None)"
    )
    print(
        f"cold on the {len(easy)} distinct UAs linehaul parses: pkgate {easy_rates[0]:,.0f},"
        f" linehaul {easy_rates[1]:,.0f} UA/s, ratio {easy_rates[0] / easy_rates[1]:.1f}"
    )
    print(f"ratio_stream {rows[0][2] / rows[1][2]:.1f}")
    print(f"ratio_warm {rows[0][3] / rows[1][3]:.1f}")
    print(f"ratio_cold {rows[0][1] / rows[1][1]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
