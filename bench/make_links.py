"""Print signed gateway file paths, one a line, for wrk to rotate through (see redirect.sh).

Several hundred distinct files spread over a few dozen projects, so the gateway's link-verification
memo sees a realistic working set rather than one hot key.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

from pkgate.edge.links import LinkSigner


def links(secret: str, count: int, projects: int) -> list[str]:
    """`count` distinct signed `/files/...` paths under `secret`."""
    signer = LinkSigner(secret.encode())
    out = []
    for i in range(count):
        project = f"bench-project-{i % projects}"
        dist = project.replace("-", "_")
        filename = f"{dist}-1.{i // projects}.{i % 7}-py3-none-any.whl"
        digest = hashlib.sha256(filename.encode()).hexdigest()
        url = f"https://files.example.org/packages/{digest[:2]}/{digest[2:4]}/{digest[4:60]}/{filename}"
        out.append(signer.make(project, filename, url))
    return out


def npm_links(secret: str, count: int, projects: int) -> list[str]:
    """`count` distinct signed npm tarball paths (`/npm/<name>/-/<token>/<file>`) under `secret`,
    signed as pkgate's npm module signs them: `"<upstream> <version> <url>"`."""
    signer = LinkSigner(secret.encode())
    out = []
    for i in range(count):
        name = f"bench-package-{i % projects}"
        version = f"1.{i // projects}.{i % 7}"
        filename = f"{name}-{version}.tgz"
        url = f"https://files.example.org/packages/npm/{name}/-/{filename}"
        token = signer.token(name, filename, f"npm {version} {url}")
        out.append(f"/npm/{name}/-/{token}/{filename}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--projects", type=int, default=40)
    parser.add_argument("--ecosystem", choices=("python", "npm"), default="python")
    args = parser.parse_args(argv)
    if args.count < 1 or args.projects < 1:
        parser.error("--count and --projects must be positive")
    make = npm_links if args.ecosystem == "npm" else links
    sys.stdout.write("".join(p + "\n" for p in make(args.secret, args.count, args.projects)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
