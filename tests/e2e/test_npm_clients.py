"""Real npm, pnpm, yarn (classic and berry) and bun install through a real `pkgate serve` from
real verdaccio registries.

One gateway for the module: `@acme/*` routed to the private verdaccio (token from the
environment, tarballs streamed through), everything else to the public one, which also holds a
dependency-confusion bait `@acme/private-lib` 9.9.9. Each client runs isolated from this machine's
npm configuration (own HOME, userconfig, caches) and must install exactly the private 1.0.0.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from tests.support.npm_registry import (
    BUN,
    NODE_BIN,
    VENV_BIN,
    YARN_BERRY,
    YARN_CLASSIC,
    Registries,
    bun_binary,
    npm_env,
)

from .conftest import Gateway

#: What a project depending on chalk 4 and the private library installs (name -> version).
EXPECTED: Final = {
    "chalk": "4.1.2",
    "ansi-styles": "4.3.0",
    "color-convert": "2.0.1",
    "color-name": "1.1.4",
    "supports-color": "7.2.0",
    "has-flag": "4.0.0",
    "is-number": "7.0.0",
    "@acme/private-lib": "1.0.0",
}


class NpmGateway(Gateway):
    def __init__(self, workdir: Path, reg: Registries) -> None:
        self.workdir = workdir
        from .upstreams import free_port

        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n'
            '[gateway]\nid = "e2e"\nsecret = "test-secret-for-the-e2e-suite"\ndefault_upstream = ""\n'
            f'[upstreams.public]\nurl = "{reg.public.url}"\necosystem = "npm"\n'
            f'[upstreams.acme]\nurl = "{reg.private.url}"\necosystem = "npm"\nmode = "proxy"\n'
            'token_env = "ACME_NPM_TOKEN"\nauthoritative = true\n'
            '[npm]\ndefault_upstream = "public"\n'
            '[[routing.rules]]\necosystem = "npm"\nprojects = ["@acme/*"]\nupstreams = ["acme"]\n'
            f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
        )
        self._launch({"ACME_NPM_TOKEN": reg.private.token})

    @property
    def registry(self) -> str:
        return f"{self.proxy.url}/npm/"


@pytest.fixture(scope="module")
def gateway(npm_registries: Registries, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NpmGateway]:
    gw = NpmGateway(tmp_path_factory.mktemp("npm-gateway"), npm_registries)
    yield gw
    gw.stop()


def project(root: Path, gateway: NpmGateway) -> tuple[Path, dict[str, str]]:
    """A project depending on chalk and the private library; a client env pointed at the gateway."""
    work = root / "project"
    work.mkdir(parents=True)
    manifest = {
        "name": "app",
        "version": "1.0.0",
        "private": True,
        "dependencies": {"chalk": "^4.1.0", "@acme/private-lib": "^1.0.0"},
    }
    (work / "package.json").write_text(json.dumps(manifest))
    env = npm_env(root / "home")
    Path(env["npm_config_userconfig"]).write_text(f"registry={gateway.registry}\n")
    return work, env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, f"{cmd}: {out.stdout}\n{out.stderr}"


def installed(work: Path) -> dict[str, str]:
    """name -> version of every package under node_modules (pnpm's too, through its symlinks)."""
    found: dict[str, str] = {}
    for name in EXPECTED:
        manifest = work / "node_modules" / name / "package.json"
        if manifest.exists():
            found[name] = json.loads(manifest.read_text())["version"]
        else:
            pnpm = list(
                (work / "node_modules" / ".pnpm").glob(f"{name.replace('/', '+')}@*/node_modules/{name}")
            )
            if pnpm:
                found[name] = json.loads((pnpm[0] / "package.json").read_text())["version"]
    return found


def npm_events(gateway: NpmGateway, installer: str) -> list[dict[str, Any]]:
    gateway.wait_drained()
    return [
        e for e in gateway.events() if e["ecosystem"] == "npm" and e["user_agent"].startswith(installer + "/")
    ]


def by_installer(gateway: NpmGateway, installer: str, version: str | None) -> list[dict[str, Any]]:
    """The npm events the User-Agent parser attributed to `installer` at `version`."""
    gateway.wait_drained()
    evs = [e for e in gateway.events() if e["ecosystem"] == "npm"]
    mine = [e for e in evs if (e["installer"], e["installer_version"]) == (installer, version)]
    assert mine, sorted({(e["user_agent"], e["installer"], e["installer_version"]) for e in evs})
    return mine


def downloads(events: list[dict[str, Any]]) -> dict[str, str]:
    return {e["project"]: e["version"] for e in events if e["kind"] == "file" and e["status"] in (200, 302)}


def test_npm_install_then_npm_ci_from_the_lock_file(gateway: NpmGateway, tmp_path: Path) -> None:
    work, env = project(tmp_path, gateway)
    run([str(VENV_BIN / "npm"), "install"], work, env)  # audit on: its 404 must not fail the install
    assert installed(work) == EXPECTED
    node = subprocess.run(
        [str(VENV_BIN / "node"), "-p", "require('@acme/private-lib')"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert node.stdout.strip() == "@acme/private-lib@1.0.0"  # not the public bait
    lock = json.loads((work / "package-lock.json").read_text())
    resolved = {k.removeprefix("node_modules/"): v["resolved"] for k, v in lock["packages"].items() if k}
    assert all(url.startswith(gateway.registry) for url in resolved.values()), resolved
    first = npm_events(gateway, "npm")
    assert downloads(first) == EXPECTED
    assert {e["command"] for e in first} == {"install"}
    # `npm ci` with an empty cache: only the lock file's tarball links, no packument.
    (work / "node_modules").rename(work / "old_modules")
    ci_env = {**env, "npm_config_cache": str(tmp_path / "ci-cache")}
    run([str(VENV_BIN / "npm"), "ci", "--no-audit"], work, ci_env)
    assert installed(work) == EXPECTED
    ci = [e for e in npm_events(gateway, "npm") if e["command"] == "ci"]
    assert {e["kind"] for e in ci} == {"file"}
    assert downloads(ci) == EXPECTED


def test_pnpm_install(gateway: NpmGateway, tmp_path: Path) -> None:
    work, env = project(tmp_path, gateway)
    run([str(NODE_BIN / "pnpm"), "install", "--config.confirmModulesPurge=false"], work, env)
    assert installed(work) == EXPECTED
    events = npm_events(gateway, "pnpm")
    assert downloads(events) == EXPECTED
    assert {e["kind"] for e in events} == {"index-project", "file"}


def test_yarn_classic_install(gateway: NpmGateway, tmp_path: Path) -> None:
    work, env = project(tmp_path, gateway)
    run(
        [str(VENV_BIN / "node"), str(YARN_CLASSIC), "install", "--non-interactive", "--no-progress"],
        work,
        env,
    )
    assert installed(work) == EXPECTED
    lock = (work / "yarn.lock").read_text()
    assert gateway.registry in lock
    events = npm_events(gateway, "yarn")
    assert downloads(events) == EXPECTED
    assert os.path.exists(work / "node_modules" / "@acme" / "private-lib" / "index.js")


def test_yarn_berry_install(gateway: NpmGateway, tmp_path: Path) -> None:
    """Yarn 4, isolated by its own rc file name (no other `.yarnrc.yml` is read), its cache in tmp."""
    work, env = project(tmp_path, gateway)
    rc = ".pkgate-test-yarnrc.yml"
    (work / rc).write_text(
        json.dumps(
            {
                "npmRegistryServer": gateway.registry.rstrip("/"),
                "unsafeHttpWhitelist": ["127.0.0.1"],
                "enableGlobalCache": False,
                "enableMirror": False,  # else every archive is copied to a global mirror too
                "enableImmutableInstalls": False,  # its default on any CI it detects (not only CI=)
                "enableHardenedMode": False,  # on by default for GitHub pull requests from forks
                "cacheFolder": str(tmp_path / "berry-cache"),
                "nodeLinker": "node-modules",
                "enableTelemetry": False,
                "enableScripts": False,
                "npmMinimalAgeGate": "0",  # yarn 4 holds back versions younger than a day
            }
        )  # YAML is a superset of JSON
    )
    berry_env = {
        **env,
        "YARN_RC_FILENAME": rc,
        "YARN_CACHE_FOLDER": str(tmp_path / "berry-cache"),  # npm_env's (for classic) beats the rc
        "YARN_ENABLE_TELEMETRY": "0",
        "YARN_ENABLE_PROGRESS_BARS": "0",
    }
    run([str(VENV_BIN / "node"), str(YARN_BERRY), "install"], work, berry_env)
    assert installed(work) == EXPECTED
    assert "__metadata:" in (work / "yarn.lock").read_text()  # a berry lock file, not a classic one
    assert len(list((tmp_path / "berry-cache").glob("*.zip"))) == len(EXPECTED)  # its own cache only
    assert not list((tmp_path / "home").rglob("*.zip"))
    events = by_installer(gateway, "yarn", None)  # berry sends got's default User-Agent, no version
    assert downloads(events) == EXPECTED
    assert {e["kind"] for e in events} == {"index-project", "file"}


def test_bun_install(gateway: NpmGateway, tmp_path: Path) -> None:
    """bun, configured by a bunfig.toml of the project (registry, its own cache, no lock file)."""
    work, env = project(tmp_path, gateway)
    (work / "bunfig.toml").write_text(
        f'[install]\nregistry = "{gateway.registry}"\nsaveTextLockfile = false\n'
        f'[install.cache]\ndir = "{tmp_path / "bun-cache"}"\n'
    )
    bun_env = {**env, "BUN_INSTALL_CACHE_DIR": str(tmp_path / "bun-cache"), "DO_NOT_TRACK": "1"}
    run([str(bun_binary()), "install", "--no-save", "--no-progress"], work, bun_env)
    assert installed(work) == EXPECTED
    assert not list(work.glob("bun.lock*"))  # --no-save: no lock file written (nor reused)
    assert any((tmp_path / "bun-cache").iterdir())  # its own cache, not the machine's
    events = by_installer(gateway, "bun", BUN)
    assert downloads(events) == EXPECTED
    assert {e["kind"] for e in events} == {"index-project", "file"}


def test_reports_by_ecosystem(gateway: NpmGateway, tmp_path: Path) -> None:
    """The report of the npm installs above names them by ecosystem and takes scoped names."""
    work, env = project(tmp_path, gateway)
    run([str(VENV_BIN / "npm"), "install", "--no-audit"], work, env)
    gateway.wait_drained()
    rows = json.loads(gateway.cli("report", "--ecosystem", "npm", "--format", "json"))
    assert {r["ecosystem"] for r in rows} == {"npm"}
    # Proxied tarballs (the private registry) are answered 200 and count as downloads like redirects.
    assert {r["project"] for r in rows if r["downloads"]} == set(EXPECTED)
    mine = json.loads(
        gateway.cli("report", "--ecosystem", "npm", "--project", "@acme/private-lib", "--format", "json")
    )
    assert {(r["project"], r["version"]) for r in mine} == {
        ("@acme/private-lib", None),
        ("@acme/private-lib", "1.0.0"),
    }
    assert json.loads(gateway.cli("report", "--ecosystem", "files", "--format", "json")) == []
