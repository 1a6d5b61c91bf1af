"""Container image clients: docker, containerd, the containers/image family, crane.

- docker: `docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.5.0 os/linux arch/amd64
  UpstreamClient(Docker-Client/24.0.7 \\(linux\\))` (the daemon pulls; its OS/arch are the host's).
- containerd (and the kubelets on it): `containerd/1.7.13`.
- podman, skopeo and buildah all pull through the containers/image library, whose User-Agent is
  `containers/<library version> (github.com/containers/image)`: the three cannot be told apart from
  it, so the installer is named after the library, `containers-image`.
- crane and other go-containerregistry tools: `crane/v0.19.1 go-containerregistry/v0.19.1`, or the
  library's own `go-containerregistry/<v>`.
"""

from __future__ import annotations

from typing import Final

from pkgate.enrich.ua.model import Handler, UserAgent, clean
from pkgate.enrich.ua.tokens import system_name

#: Go's GOARCH -> `platform.machine()`-style names.
_GOARCH: Final = {"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "arm": "armv7l"}


def _docker(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
    if not version:
        return None
    facts: dict[str, str] = {}
    for tok in rest.split():
        key, sep, value = tok.partition("/")
        if sep and key in ("os", "arch", "kernel", "go"):
            facts[key] = value
    arch = facts.get("arch")
    return UserAgent(
        "installer",
        "docker",
        clean(version),
        implementation="go" if "go" in facts else None,
        implementation_version=clean(facts.get("go", "").removeprefix("go")) if "go" in facts else None,
        system=system_name(facts["os"]) if "os" in facts else None,
        system_release=clean(facts.get("kernel")),
        cpu=_GOARCH.get(arch, arch) if arch else None,
    )


def _containers(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
    if not version or "containers/image" not in rest:
        return None
    return UserAgent("installer", "containers-image", clean(version))


def _named(name: str, strip_v: bool = True) -> Handler:
    def handler(whole: str, first: str, version: str, rest: str) -> UserAgent | None:
        if not version:
            return None
        return UserAgent("installer", name, clean(version.removeprefix("v") if strip_v else version))

    return handler


HANDLERS: Final[dict[str, Handler]] = {
    "docker": _docker,
    "containerd": _named("containerd"),
    "containers": _containers,
    "crane": _named("crane"),
    "gcrane": _named("crane"),
    "go-containerregistry": _named("go-containerregistry"),
    "buildah": _named("buildah"),
    "podman": _named("podman"),
    "skopeo": _named("skopeo"),
    "cri-o": _named("cri-o"),
    "kaniko": _named("kaniko"),
    "oras": _named("oras"),
    "helm": _named("helm"),
}
