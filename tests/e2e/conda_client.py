"""A real conda client: py-rattler (the engine under pixi) solving and installing an environment.

Run as `python tests/e2e/conda_client.py SPEC_JSON` (`channel`, `specs`, `prefix`, `cache`): it
prints one JSON line, the installed records' name, version and URL. It ends with `os._exit`:
py-rattler can abort at interpreter shutdown after its work is done, and the test reads the exit
code. Package downloads carry a User-Agent only when a client is passed, so one is.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path


async def main(spec: dict[str, object]) -> list[dict[str, str]]:
    import rattler

    cache = Path(str(spec["cache"]))
    client = rattler.Client.default_client()
    gateway = rattler.Gateway(cache_dir=cache / "repodata", client=client)
    records = await rattler.solve(
        [str(spec["channel"])],
        [str(s) for s in spec["specs"]],  # type: ignore[attr-defined]
        gateway=gateway,
        platforms=["linux-64", "noarch"],
    )
    await rattler.install(
        records,
        target_prefix=str(spec["prefix"]),
        cache_dir=cache / "pkgs",
        client=client,
        show_progress=False,
    )
    return [{"name": r.name.normalized, "version": str(r.version), "url": r.url} for r in records]


if __name__ == "__main__":
    try:
        out = asyncio.run(main(json.loads(sys.argv[1])))
    except Exception as exc:
        print(f"conda_client: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        os._exit(1)
    print(json.dumps(out), flush=True)
    os._exit(0)
