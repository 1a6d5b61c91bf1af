"""Real container registries for the OCI tests: Debian's `docker-registry`, open or behind a token
server of the test's own whose blobs redirect to a separate "CDN", and images the test builds.

`TokenServer` issues RS256 JWTs carrying the signing certificate (`x5c`), which the registry checks
against the bundle named in its `auth.token` config. The registry's `redirect` storage middleware
sends blob GETs to `CDN`, a static server over the registry's own storage directory that records
whether a request still carried an `Authorization` header (a real CDN's pre-signed URL would
refuse it).
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.e2e.upstreams import free_port

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
SERVICE: Final = "test-registry"
ISSUER: Final = "test-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Server:
    """A threaded loopback HTTP server; subclasses give the handler."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, had Authorization)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def note(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((handler.command, handler.path, "Authorization" in handler.headers))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError


class TokenServer(_Server):
    """Issues bearer tokens granting whatever scope is asked for, signed with a self-signed key."""

    def __init__(self, workdir: Path) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pkgate test token issuer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = workdir / "token-bundle.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.services: list[str] = []
        super().__init__()

    def token(self, scopes: list[str], service: str) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": ISSUER,
            "sub": "tester",
            "aud": service,
            "exp": now + 600,
            "nbf": now - 60,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{_b64url(sig)}"

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.note(self)
                query = parse_qs(urlsplit(self.path).query)
                service = (query.get("service") or [""])[0]
                with server.lock:
                    server.services.append(service)
                body = json.dumps(
                    {"token": server.token(query.get("scope", []), service), "expires_in": 600}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        return Handler


class CDN(_Server):
    """Serves the registry's storage files by path, as the registry's redirects name them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.note(self)
                target = (server.root / urlsplit(self.path).path.lstrip("/")).resolve()
                if not target.is_relative_to(server.root) or not target.is_file():
                    self.send_error(404)
                    return
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(data)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        return Handler


class Registry:
    """`docker-registry serve` on a free loopback port: open, or token-protected with a CDN."""

    def __init__(self, workdir: Path, token: TokenServer | None = None, cdn: bool = False) -> None:
        self.workdir = workdir
        self.root = (workdir / "storage").resolve()
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.token = token
        self.cdn = CDN(self.root) if cdn else None
        lines = [
            "version: 0.1",
            "log:\n  level: warn\n  accesslog:\n    disabled: true",
            f"storage:\n  filesystem:\n    rootdirectory: {self.root}\n  delete:\n    enabled: true",
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: pkgate-test-registry-secret",
        ]
        if token is not None:
            lines.append(
                f"auth:\n  token:\n    realm: {token.url}/token\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {token.bundle}"
            )
        if self.cdn is not None:
            lines.append(
                f"middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: {self.cdn.url}/"
            )
        config = workdir / "config.yml"
        config.write_text("\n".join(lines) + "\n")
        self.log = (workdir / "registry.log").open("wb")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.url}/v2/", timeout=1)
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError((workdir / "registry.log").read_text()) from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if self.cdn is not None:
            self.cdn.stop()

    def _headers(self, repo: str) -> dict[str, str]:
        if self.token is None:
            return {}
        return {"Authorization": "Bearer " + self.token.token([f"repository:{repo}:pull,push"], SERVICE)}

    def push(self, repo: str, ref: str, image: Image) -> None:
        """Upload the image's blobs and manifests (children by digest, then the top one as `ref`)."""
        auth = self._headers(repo)
        with httpx.Client(base_url=self.url, headers=auth, timeout=30) as http:
            for digest, data in image.blobs.items():
                start = http.post(f"/v2/{repo}/blobs/uploads/")
                assert start.status_code == 202, start.text
                location = start.headers["location"]
                sep = "&" if "?" in location else "?"
                done = http.put(f"{location}{sep}digest={digest}", content=data)
                assert done.status_code == 201, done.text
            for digest, (mtype, data) in image.children.items():
                put = http.put(
                    f"/v2/{repo}/manifests/{digest}", content=data, headers={"content-type": mtype}
                )
                assert put.status_code == 201, put.text
            put = http.put(
                f"/v2/{repo}/manifests/{ref}", content=image.top, headers={"content-type": image.top_type}
            )
            assert put.status_code == 201, put.text


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(content: bytes, name: str) -> tuple[bytes, bytes]:
    """(gzipped tar, uncompressed tar) holding one file; deterministic."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(content), 0, 0o644
        tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, mtime=0), tar_bytes


@dataclass
class Image:
    """An image as its registry holds it: blobs by digest, child manifests, the top manifest."""

    top: bytes
    top_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    platforms: dict[str, str] = field(default_factory=dict)  # child manifest digest -> os/arch

    @property
    def digest(self) -> str:
        return digest_of(self.top)

    def layers(self, manifest: bytes) -> list[str]:
        doc: dict[str, Any] = json.loads(manifest)
        return [layer["digest"] for layer in doc["layers"]]


def _manifest(arch: str, text: str, docker: bool, blobs: dict[str, bytes]) -> tuple[str, bytes]:
    gz, tar = _layer(text.encode(), f"hello-{arch}.txt")
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(tar)]},
            "config": {"Cmd": ["/bin/true"]},
        },
        sort_keys=True,
    ).encode()
    blobs[digest_of(gz)] = gz
    blobs[digest_of(config)] = config
    mtype = DOCKER_MANIFEST if docker else OCI_MANIFEST
    ctype = (
        "application/vnd.docker.container.image.v1+json"
        if docker
        else "application/vnd.oci.image.config.v1+json"
    )
    ltype = (
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
        if docker
        else "application/vnd.oci.image.layer.v1.tar+gzip"
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": mtype,
        "config": {"mediaType": ctype, "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": ltype, "digest": digest_of(gz), "size": len(gz)}],
    }
    return mtype, json.dumps(doc, sort_keys=True).encode()


def single_image(text: str, arch: str = "amd64", docker: bool = False) -> Image:
    blobs: dict[str, bytes] = {}
    mtype, data = _manifest(arch, text, docker, blobs)
    return Image(data, mtype, blobs)


def multi_arch_image(text: str, arches: tuple[str, ...] = ("amd64", "arm64"), docker: bool = False) -> Image:
    """An image index (or Docker manifest list) over one image per architecture."""
    blobs: dict[str, bytes] = {}
    children: dict[str, tuple[str, bytes]] = {}
    platforms: dict[str, str] = {}
    entries = []
    for arch in arches:
        mtype, data = _manifest(arch, f"{text} on {arch}", docker, blobs)
        children[digest_of(data)] = (mtype, data)
        platforms[digest_of(data)] = f"linux/{arch}"
        entries.append(
            {
                "mediaType": mtype,
                "digest": digest_of(data),
                "size": len(data),
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    top_type = DOCKER_LIST if docker else OCI_INDEX
    top = json.dumps(
        {"schemaVersion": 2, "mediaType": top_type, "manifests": entries}, sort_keys=True
    ).encode()
    return Image(top, top_type, blobs, children, platforms)
