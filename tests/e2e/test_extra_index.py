"""`--extra-index-url` use, end to end: real pip and uv, the gateway next to a second local index.

The author publishes `pip install --extra-index-url <gateway> jaraco.functools`. The gateway serves
only that project (a routing rule, `default_upstream = ""`); its dependency more-itertools comes from
the other index (a pypiserver that does not have jaraco.functools). pip and uv ask the gateway for
every name of the install: the others are answered 404 at once (no upstream request) and recorded
as kind `index-miss`, which the downloads report leaves out.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import BIN, Clients, Gateway, installed
from .upstreams import Dist, PypiServer, StaticIndex, build_static_index, free_port

pytestmark = pytest.mark.e2e

AUTHOR = "jaraco-functools"
DEPENDENCY = "more-itertools"


class ExtraIndexGateway(Gateway):
    """`pkgate serve` serving only the author's project, the documented extra-index config."""

    def __init__(self, workdir: Path, author_index: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n'
            f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
            '[gateway]\nsecret = "extra-index-e2e-secret-0123456789"\ndefault_upstream = ""\n'
            f'[upstreams.author]\nurl = "{author_index}"\n'
            '[[routing.rules]]\nprojects = ["jaraco.functools"]\nupstreams = ["author"]\n'
        )
        self._launch()


@pytest.fixture
def indexes(dists: list[Dist], tmp_path: Path) -> tuple[StaticIndex, PypiServer]:
    """(the author's index: only jaraco.functools; the other index: everything else)."""
    build_static_index([d for d in dists if d.project == AUTHOR], tmp_path / "author")
    author = StaticIndex(tmp_path / "author").start()
    others = tmp_path / "others"
    others.mkdir()
    for dist in dists:
        if dist.project != AUTHOR:
            shutil.copy(dist.path, others / dist.filename)
    pypi = PypiServer(BIN / "pypi-server", others, tmp_path / "pypiserver.log").start()
    return author, pypi


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_extra_index_serves_the_author_and_records_the_rest(
    installer: str, clients: Clients, indexes: tuple[StaticIndex, PypiServer], tmp_path: Path
) -> None:
    author, pypi = indexes
    gateway = ExtraIndexGateway(tmp_path / "gateway", author.simple_url)
    try:
        python = clients.fresh_venv(tmp_path / "venv")
        options = ["--index-url", pypi.simple_url, "--extra-index-url", gateway.url, "jaraco.functools"]
        if installer == "pip":
            done = clients.pip("install", *options, python=python)
        else:
            done = clients.uv("pip", "install", "--python", str(python), *options)
        assert done.returncode == 0, done.stdout + done.stderr
        assert installed(python) == {AUTHOR: "4.0.1", DEPENDENCY: "10.3.0"}

        seen = gateway.proxy.requests()
        assert any(r.path.startswith(f"/files/{AUTHOR}/") and r.status == 302 for r in seen)
        assert any(r.path == f"/simple/{DEPENDENCY}/" and r.status == 404 for r in seen)
        # No upstream call for a name the gateway does not serve.
        assert all(DEPENDENCY not in r.path for r in author.requests())

        gateway.wait_drained()
        events = gateway.events()
        misses = [e for e in events if e["kind"] == "index-miss"]
        assert misses
        assert {e["project"] for e in misses} == {DEPENDENCY}
        assert {e["status"] for e in misses} == {404}
        assert all(e["upstream"] is None and e["cache"] is None for e in misses)
        assert any(e["kind"] == "index-project" and e["project"] == AUTHOR for e in events)
        assert any(e["kind"] == "file" and e["project"] == AUTHOR for e in events)
        assert len(events) == len(seen)  # every request, misses too, is one event

        report = gateway.report()
        assert {row["project"] for row in report} == {AUTHOR}  # misses are not attempts
        assert sum(row["downloads"] for row in report) == 1
    finally:
        gateway.stop()
        author.stop()
        pypi.stop()
