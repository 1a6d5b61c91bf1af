"""Real npm registries for tests: verdaccio (uplinks disabled) filled with real packages.

The public packages are real tarballs from the npm registry (`npm pack <name>@<version>`, cached
in `.cache/test-npm/`), published unchanged to a local verdaccio. A second verdaccio holds the
private scope `@acme`, readable only with a token. Every npm process runs isolated from this
machine's npm configuration (own userconfig, cache, HOME; no `npm_config_*` variables).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple

import httpx
import pytest

from tests.e2e.upstreams import free_port

REPO: Final = Path(__file__).resolve().parents[2]
VENV_BIN: Final = REPO / ".venv" / "bin"
NODE_BIN: Final = REPO / "node_modules" / ".bin"
CACHE: Final = REPO / ".cache" / "test-npm"
#: Both yarns are in package.json: run their scripts by path (they fight over `.bin/yarn`).
YARN_CLASSIC: Final = REPO / "node_modules" / "yarn" / "bin" / "yarn.js"
YARN_BERRY: Final = REPO / "node_modules" / "@yarnpkg" / "cli-dist" / "bin" / "yarn.js"
#: The bun of package.json (its binary comes in an `@oven/bun-<os>-<arch>` optional dependency).
BUN: Final = json.loads((REPO / "package.json").read_text())["devDependencies"]["bun"]
#: A small real dependency tree: chalk 4 -> ansi-styles -> color-convert -> color-name, and
#: supports-color -> has-flag; plus is-number in two versions (dist-tags, version documents).
PUBLIC: Final = (
    "color-name@1.1.4",
    "color-convert@2.0.1",
    "ansi-styles@4.3.0",
    "has-flag@4.0.0",
    "supports-color@7.2.0",
    "chalk@4.1.2",
    "is-number@6.0.0",
    "is-number@7.0.0",
)
USER: Final = "tester"
PASSWORD: Final = "tester-password-0123"


def npm_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for npm/pnpm/yarn that knows nothing of this machine's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith(("npm_", "yarn_", "pnpm_"))}
    for var in ("NODE_OPTIONS", "NODE_PATH", "PKGATE_CONFIG"):
        env.pop(var, None)
    home.mkdir(parents=True, exist_ok=True)
    npmrc = home / ".npmrc"
    if not npmrc.exists():
        npmrc.write_text("")
    env.update(
        {
            "HOME": str(home),
            "PATH": f"{VENV_BIN}:{NODE_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
            "npm_config_userconfig": str(npmrc),
            "npm_config_globalconfig": str(home / "global-npmrc"),
            "npm_config_cache": str(home / "npm-cache"),
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_loglevel": "warn",
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "YARN_CACHE_FOLDER": str(home / "yarn-cache"),
            "COREPACK_ENABLE_STRICT": "0",
            "CI": "",
        }
    )
    env.pop("CI")
    env.update(extra or {})
    return env


def bun_binary() -> Path:
    """bun's executable: where its postinstall links it, or still in its platform package (when
    npm ran no install scripts). Either way a real binary from the npm registry, no download."""
    linked = REPO / "node_modules" / "bun" / "bin" / "bun.exe"
    if linked.exists() and linked.stat().st_size > 1 << 20:  # not the 450-byte placeholder
        return linked
    found = sorted((REPO / "node_modules" / "@oven").glob("bun-*/bin/bun"))
    assert found, "no bun binary under node_modules: run scripts/setup"
    return found[0]


def npm(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    out = subprocess.run(
        [str(VENV_BIN / "npm"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"npm {' '.join(args)}: {out.stdout}\n{out.stderr}"
    return out.stdout


def fetch_public(home: Path) -> list[Path]:
    """The public tarballs, from the npm registry on first use (`npm pack` of the real packages)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in PUBLIC:
        name, _, version = spec.rpartition("@")
        path = CACHE / f"{name}-{version}.tgz"
        if not path.exists():
            work = home / "pack"
            work.mkdir(parents=True, exist_ok=True)
            npm(["pack", spec, "--registry", "https://registry.npmjs.org/"], work, npm_env(home))
            shutil.move(str(work / f"{name}-{version}.tgz"), path)
        paths.append(path)
    return paths


def private_tarball(work: Path, name: str, version: str, deps: dict[str, str]) -> Path:
    """A package of our own (the private scope, or a dependency-confusion bait)."""
    pkg = work / f"src-{name.replace('/', '-')}-{version}" / "package"
    pkg.mkdir(parents=True)
    manifest = {"name": name, "version": version, "main": "index.js", "dependencies": deps}
    (pkg / "package.json").write_text(json.dumps(manifest))
    (pkg / "index.js").write_text(f"module.exports = {json.dumps(f'{name}@{version}')};\n")
    out = work / f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
    with tarfile.open(out, "w:gz") as tar:
        tar.add(pkg, arcname="package")
    return out


class Verdaccio:
    """A verdaccio with no uplinks; `@acme/*` needs a token when `private_scope` is set."""

    def __init__(self, workdir: Path, private_scope: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        access = "$authenticated" if private_scope else "$all"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(
            f"storage: {workdir / 'storage'}\n"
            f"auth:\n  htpasswd:\n    file: {workdir / 'htpasswd'}\n    max_users: 100\n"
            "uplinks: {}\n"
            "packages:\n"
            f"  '@acme/*':\n    access: {access}\n    publish: $authenticated\n"
            "  '**':\n    access: $all\n    publish: $authenticated\n"
            "web:\n  enable: false\n"
            "logs: {type: stdout, format: json, level: warn}\n"
            f"listen: 127.0.0.1:{self.port}\n"
        )
        self.token = ""
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Verdaccio:
        env = npm_env(self.workdir / "home")
        self.log = (self.workdir / "verdaccio.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "node"),
                str(REPO / "node_modules" / "verdaccio" / "bin" / "verdaccio"),
                "--config",
                str(self.workdir / "config.yaml"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, (self.workdir / "verdaccio.log").read_text()
            try:
                if httpx.get(self.url + "-/ping", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (self.workdir / "verdaccio.log").read_text()
            time.sleep(0.1)
        r = httpx.put(
            f"{self.url}-/user/org.couchdb.user:{USER}",
            json={"name": USER, "password": PASSWORD},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        self.token = r.json()["token"]
        return self

    def publish(self, tarballs: list[Path], home: Path) -> None:
        env = npm_env(home)
        rc = home / "publish-npmrc"
        host = self.url.removeprefix("http:")
        rc.write_text(f"registry={self.url}\n{host}:_authToken={self.token}\n")
        env["npm_config_userconfig"] = str(rc)
        for tgz in tarballs:  # in version order: the last one published is `latest`
            npm(["publish", str(tgz), "--registry", self.url], home, env)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self.log.close()


class Registries(NamedTuple):
    """The public verdaccio (real packages, plus an `@acme/private-lib` 9.9.9 bait) and the
    private one (`@acme/private-lib` 1.0.0, which depends on the public is-number ^7)."""

    public: Verdaccio
    private: Verdaccio
    tarballs: dict[str, Path]  # "name@version" -> the tarball published


@pytest.fixture(scope="session")
def npm_registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    work = tmp_path_factory.mktemp("npm-registries")
    home = work / "home"
    public = Verdaccio(work / "public")
    private = Verdaccio(work / "private", private_scope=True)
    try:
        public.start()
        private.start()
        bait = private_tarball(work, "@acme/private-lib", "9.9.9", {})
        mine = private_tarball(work, "@acme/private-lib", "1.0.0", {"is-number": "^7.0.0"})
        real = fetch_public(home)
        public.publish([*real, bait], home)
        private.publish([mine], home)
        tarballs = dict(zip(PUBLIC, real, strict=True))
        tarballs["@acme/private-lib@1.0.0"] = mine
        tarballs["@acme/private-lib@9.9.9"] = bait
        yield Registries(public, private, tarballs)
    finally:
        public.stop()
        private.stop()
