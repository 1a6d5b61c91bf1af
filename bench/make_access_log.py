"""A realistic nginx `combined` access log of an index front, for bench/ingest.sh.

Mostly pip and uv (long JSON User-Agents, a few hundred distinct ones), some CI, browsers and curl;
index pages (with 304 revalidations), PEP 658 metadata, file downloads (302), HEADs, 404s; clients
skewed like real traffic (a few heavy sources, a long tail of one-off ones, IPv4 and IPv6), times
increasing over the last day. Written line by line to stdout: constant memory whatever the size.
"""

from __future__ import annotations

import json
import random
import sys
import time


def _agents(rng: random.Random) -> list[str]:
    out = []
    for _ in range(300):
        tool = rng.choice(["pip", "pip", "pip", "uv", "uv"])
        version = (
            f"{rng.randint(20, 25)}.{rng.randint(0, 3)}"
            if tool == "pip"
            else f"0.{rng.randint(4, 9)}.{rng.randint(0, 30)}"
        )
        py = f"3.{rng.randint(8, 13)}.{rng.randint(0, 12)}"
        data = {
            "ci": rng.choice([None, True]),
            "cpu": rng.choice(["x86_64", "aarch64", "arm64"]),
            "distro": {
                "id": "bookworm",
                "libc": {"lib": "glibc", "version": "2.36"},
                "name": "Debian GNU/Linux",
                "version": "12",
            },
            "implementation": {"name": "CPython", "version": py},
            "installer": {"name": tool, "version": version},
            "openssl_version": "OpenSSL 3.0.15 3 Sep 2024",
            "python": py,
            "setuptools_version": "68.2.2",
            "system": {"name": rng.choice(["Linux", "Darwin", "Windows"]), "release": "6.1.0-28-amd64"},
        }
        out.append(f"{tool}/{version} {json.dumps(data, separators=(',', ':'))}")
    out += [
        "curl/8.5.0",
        "Wget/1.21.3",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "python-requests/2.31.0",
        "bandersnatch/6.5.0 (cpython 3.11.2-final0, Linux x86_64)",
    ]
    return out


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(42)
    agents = _agents(rng)
    projects = [f"project-{i}" for i in range(800)]
    # Each project has a few releases, each file one fixed URL (as on PyPI: /packages/<hash>/file).
    files = {
        p: [
            (v, f"/packages/{rng.getrandbits(8):02x}/{rng.getrandbits(8):02x}/{rng.getrandbits(240):060x}")
            for v in (f"{rng.randint(0, 5)}.{k}.{rng.randint(0, 9)}" for k in range(rng.randint(1, 15)))
        ]
        for p in projects
    }
    clients = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(40_000)
    ]
    clients += [f"2001:db8:{rng.randint(0, 65535):x}::{rng.randint(1, 65535):x}" for _ in range(5_000)]
    start = time.time() - 86_400
    step = 86_000 / lines
    out = sys.stdout
    for n in range(lines):
        ip = (
            clients[min(int(rng.paretovariate(0.6)) - 1, len(clients) - 1)]
            if rng.random() < 0.5
            else rng.choice(clients)
        )
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + n * step))
        project = projects[min(int(rng.paretovariate(0.8)) - 1, len(projects) - 1)]
        releases = files[project]
        version, where = releases[min(int(rng.paretovariate(1.2)) - 1, len(releases) - 1)]  # newest first
        wheel = f"{where}/{project.replace('-', '_')}-{version}-py3-none-any.whl"
        roll = rng.random()
        method, status, size = "GET", 302, 0
        if roll < 0.22:
            path, status, size = f"/simple/{project}/", 200, rng.randint(800, 90_000)
        elif roll < 0.30:
            path, status = f"/simple/{project}/", 304
        elif roll < 0.40:
            path = f"{wheel}.metadata"
        elif roll < 0.92:
            path = wheel
        elif roll < 0.95:
            method, path = "HEAD", wheel
        elif roll < 0.97:
            path, status, size = "/simple/", 200, 4_000_000
        else:
            path, status, size = (
                rng.choice(["/favicon.ico", "/robots.txt", "/wp-login.php", "/.env"]),
                404,
                153,
            )
        ua = agents[rng.randrange(len(agents))].replace('"', "\\x22")
        out.write(f'{ip} - - [{stamp}] "{method} {path} HTTP/1.1" {status} {size} "-" "{ua}"\n')


if __name__ == "__main__":
    main()
