"""Real skopeo and podman (Debian) copying and pulling images through `pkgate serve`, from real
local registries: Debian's docker-registry open, and behind a token server whose blobs redirect to
a separate CDN (tests/support/oci.py). Images are built by the test; the multi-arch one is an OCI
image index, the single one uses Docker media types. The events must land in the store as pulls,
checks and layer fetches with the right repository, tag, digest and platform. Each test checks its
own repositories' events, so the tests stand alone (pytest-xdist may split them across workers).
"""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.support.oci import (
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    Registry,
    TokenServer,
    multi_arch_image,
    single_image,
)

from .conftest import Gateway, _clean_env
from .upstreams import free_port

MULTI: Final = multi_arch_image("multi e2e")
SINGLE: Final = single_image("single e2e", docker=True)
CLIENTS: Final = ("sk", "pd")  # a repository per client, so their events are told apart
#: The unreachable name podman pulls under: registries.conf sends it to the gateway as a mirror.
ALIAS: Final = "registry.invalid"


class OciGateway(Gateway):
    """`pkgate serve` fronting the open registry for `open/*` and the token one for `locked/*`."""

    def __init__(self, workdir: Path, open_url: str, locked_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n'
            '[gateway]\nid = "e2e-oci"\nsecret = "test-secret-for-the-oci-e2e"\ndefault_upstream = ""\n'
            f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
            f'[upstreams.open]\nurl = "{open_url}"\necosystem = "oci"\n'
            f'[upstreams.locked]\nurl = "{locked_url}"\necosystem = "oci"\n'
            '[[routing.rules]]\necosystem = "oci"\nprojects = ["open/*"]\nupstreams = ["open"]\n'
            '[[routing.rules]]\necosystem = "oci"\nprojects = ["locked/*"]\nupstreams = ["locked"]\n'
        )
        self._launch()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


class World:
    def __init__(self, root: Path) -> None:
        (root / "open").mkdir()
        (root / "locked").mkdir()
        self.open = Registry(root / "open")
        self.tokens = TokenServer(root)
        self.locked = Registry(root / "locked", self.tokens, cdn=True)
        for reg, prefix in ((self.open, "open"), (self.locked, "locked")):
            for client in CLIENTS:
                reg.push(f"{prefix}/{client}-multi", "v1", MULTI)
                reg.push(f"{prefix}/{client}-single", "1.0", SINGLE)
        gw = root / "gateway"
        gw.mkdir()
        self.gateway = OciGateway(gw, self.open.url, self.locked.url)

    def stop(self) -> None:
        try:
            self.gateway.stop()
        finally:
            self.open.stop()
            self.locked.stop()
            self.tokens.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("oci-e2e"))
    yield w
    w.stop()


def client_env(tmp: Path, gateway_host: str) -> dict[str, str]:
    """containers/image configuration of the test's own: no machine registries, auth or storage."""
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "auth.json").write_text("{}")
    (tmp / "registries.conf").write_text(
        "unqualified-search-registries = []\n"
        f'[[registry]]\nprefix = "{ALIAS}"\nlocation = "{ALIAS}"\n'
        f'[[registry.mirror]]\nlocation = "{gateway_host}"\ninsecure = true\n'
    )
    (tmp / "containers.conf").write_text('[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n')
    (tmp / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{tmp / "run"}"\ngraphroot = "{tmp / "root"}"\n'
    )
    env = _clean_env()
    env.update(
        HOME=str(tmp / "home"),
        XDG_RUNTIME_DIR=str(tmp / "run"),
        XDG_CONFIG_HOME=str(tmp / "home" / ".config"),
        REGISTRY_AUTH_FILE=str(tmp / "auth.json"),
        CONTAINERS_REGISTRIES_CONF=str(tmp / "registries.conf"),
        CONTAINERS_CONF=str(tmp / "containers.conf"),
        CONTAINERS_STORAGE_CONF=str(tmp / "storage.conf"),
    )
    return env


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def skopeo(env: dict[str, str], *args: str) -> str:
    return run(["skopeo", "--insecure-policy", *args], env)


def podman(env: dict[str, str], *args: str) -> str:
    return run(
        [
            "podman",
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            *args,
        ],
        env,
    )


def layers_of(image: Image, digest: str) -> set[str]:
    """The blobs (layers and config) of one image manifest of `image`."""
    doc: dict[str, Any] = json.loads(image.children[digest][1] if digest in image.children else image.top)
    return {layer["digest"] for layer in doc["layers"]} | {doc["config"]["digest"]}


def child(image: Image, platform: str) -> str:
    return next(d for d, p in image.platforms.items() if p == platform)


def oci_layout_digests(layout: Path) -> set[str]:
    return {m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]}


@pytest.mark.parametrize("registry", ["open", "locked"])
def test_skopeo_copies_through_the_gateway(world: World, registry: str, tmp_path: Path) -> None:
    gw = world.gateway
    env = client_env(tmp_path, gw.host)
    repo = f"{registry}/sk-multi"
    src = f"docker://{gw.host}/{repo}"
    # Every platform, by tag: the index itself is kept (the OCI layout names its digest).
    skopeo(env, "copy", "--all", "--src-tls-verify=false", f"{src}:v1", f"oci:{tmp_path / 'all'}:v1")
    assert oci_layout_digests(tmp_path / "all") == {MULTI.digest}
    # One platform, by the index's digest: the client picks the arm64 entry.
    arm = child(MULTI, "linux/arm64")
    skopeo(
        env,
        "copy",
        "--override-arch",
        "arm64",
        "--src-tls-verify=false",
        f"{src}@{MULTI.digest}",
        f"oci:{tmp_path / 'arm'}:x",
    )
    assert oci_layout_digests(tmp_path / "arm") == {arm}
    inspected = json.loads(
        skopeo(env, "inspect", "--tls-verify=false", f"docker://{gw.host}/{registry}/sk-single:1.0")
    )
    assert inspected["Digest"] == SINGLE.digest
    if registry == "locked":
        cdn = world.locked.cdn
        assert cdn is not None
        fetched = [(path, auth) for method, path, auth in cdn.requests if method == "GET"]
        assert fetched, "no blob came from the CDN"
        assert not any(auth for _, auth in fetched)  # the client did not take a token to the CDN
        assert world.tokens.requests, "the token server was never asked"
    check_events(world, registry, "sk")


@pytest.mark.parametrize("registry", ["open", "locked"])
def test_podman_pulls_through_the_gateway(world: World, registry: str, tmp_path: Path) -> None:
    env = client_env(tmp_path, world.gateway.host)
    podman(env, "pull", "--arch", "arm64", f"{ALIAS}/{registry}/pd-multi:v1")
    podman(env, "pull", f"{ALIAS}/{registry}/pd-single@{SINGLE.digest}")
    images = json.loads(podman(env, "images", "--format", "json"))
    digests = {img["Digest"] for img in images}
    assert digests == {MULTI.digest, SINGLE.digest}
    check_events(world, registry, "pd")


def check_events(world: World, registry: str, client: str) -> None:
    """What one client did against one registry, as the store has it: pulls with repository, tag,
    digest and platform, layer fetches, the index; no failure but the token challenges."""
    gw = world.gateway
    gw.wait_drained()
    prefix = f"{registry}/{client}-"
    evs = [e for e in gw.events() if e["ecosystem"] == "oci" and (e["project"] or "").startswith(prefix)]
    assert evs, f"no OCI events stored for {prefix}*"
    arm, amd = child(MULTI, "linux/arm64"), child(MULTI, "linux/amd64")
    multi, single = f"{prefix}multi", f"{prefix}single"
    pulls = {
        (e["project"], e["version"], e["digest"], e["platform"])
        for e in evs
        if e["kind"] == "manifest" and e["method"] == "GET" and e["status"] == 200
    }
    blobs = {e["digest"] for e in evs if e["kind"] == "blob" and e["method"] == "GET" and e["status"] == 307}
    indexes = {
        (e["project"], e["digest"]) for e in evs if e["kind"] == "index-project" and e["status"] == 200
    }
    assert (multi, MULTI.digest) in indexes
    assert (multi, "v1", arm, "linux/arm64") in pulls, pulls
    assert layers_of(MULTI, arm) <= blobs
    if client == "sk":
        # --all by tag: both platforms pulled, each with the tag its index came from.
        assert (multi, "v1", amd, "linux/amd64") in pulls
        assert layers_of(MULTI, amd) <= blobs
    else:
        assert (single, None, SINGLE.digest, None) in pulls  # by digest: no tag
        assert layers_of(SINGLE, SINGLE.digest) <= blobs
    # skopeo names itself; podman speaks as the containers/image library.
    assert {e["installer"] for e in evs} == {"skopeo" if client == "sk" else "containers-image"}
    assert [e for e in evs if e["status"] >= 400 and e["status"] != 401] == []
    assert {e["kind"] for e in evs if e["method"] == "HEAD"} <= {"manifest", "blob"}


def test_every_accept_line_reaches_the_registry(world: World) -> None:
    """Under granian (RSGI) several `Accept` lines arrive as several headers: all must go upstream,
    or an index request whose first line names an image manifest becomes a 404."""
    conn = http.client.HTTPConnection("127.0.0.1", world.gateway.port, timeout=30)
    try:
        conn.putrequest("GET", "/v2/open/sk-multi/manifests/v1")
        conn.putheader("Accept", OCI_MANIFEST)
        conn.putheader("Accept", OCI_INDEX)
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    assert resp.status == 200
    assert resp.getheader("content-type") == OCI_INDEX
    assert body == MULTI.top
