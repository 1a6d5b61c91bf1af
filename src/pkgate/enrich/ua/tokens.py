"""Shared reading of RFC 9110 product tokens (`name/version`) that Python tools append.

pip 1.4-5, poetry, pdm, twine, conda and others all say `tool/ver Impl/ver System/release`,
sometimes with more tokens around; one scanner serves them all, by position and known names,
so a new tool is one table entry rather than one more regex.
"""

from __future__ import annotations

from typing import Final

from pkgate.enrich.ua.model import UserAgent, clean

#: Python implementations as `platform.python_implementation()` spells them.
IMPLEMENTATIONS: Final = {
    "cpython": "CPython",
    "pypy": "PyPy",
    "ironpython": "IronPython",
    "jython": "Jython",
    "graalpy": "GraalPy",
    "graalvm": "GraalPy",
    "pyston": "Pyston",
    "micropython": "MicroPython",
    "stackless": "Stackless",
}

#: `platform.system()` / `sys.platform` spellings, normalised to `platform.system()`'s.
SYSTEMS: Final = {
    "linux": "Linux",
    "linux2": "Linux",
    "darwin": "Darwin",
    "windows": "Windows",
    "win32": "Windows",
    "freebsd": "FreeBSD",
    "openbsd": "OpenBSD",
    "netbsd": "NetBSD",
    "dragonfly": "DragonFly",
    "sunos": "SunOS",
    "aix": "AIX",
    "java": "Java",
    "emscripten": "Emscripten",
    "haiku": "Haiku",
}

#: Distro spellings worth unifying with what pip's JSON says.
DISTROS: Final = {"osx": "macOS", "macos": "macOS", "mac os x": "macOS"}

_LIBCS: Final = frozenset({"glibc", "musl", "libc"})


def system_name(raw: str) -> str | None:
    """Canonical system name for `raw`, or the raw spelling when it is an unfamiliar one."""
    return SYSTEMS.get(raw.lower()) or clean(raw)


def tool(category: str, name: str, version: str, rest: str, python: str | None = None) -> UserAgent:
    """A UA made of product tokens after the tool's own; unknown tokens are skipped."""
    impl = impl_v = system = release = distro = distro_v = libc = libc_v = None
    state = 0  # 0: before implementation, 1: just after it, 2: just after system, 3: later
    for tok in rest.split():
        key, sep, value = tok.partition("/")
        if not sep:
            state = 3 if state else 0
            continue
        low = key.lower()
        if state == 0:
            canon = IMPLEMENTATIONS.get(low)
            if canon is not None:
                impl, impl_v, state = canon, clean(value), 1
        elif state == 1:
            system, release, state = system_name(key), clean(value), 2
        elif low in _LIBCS:
            libc, libc_v, state = low, clean(value), 3
        elif state == 2:
            distro, distro_v, state = DISTROS.get(low, key), clean(value), 3
    if impl == "CPython" and impl_v is not None:
        python = impl_v
    return UserAgent(
        category,
        name,
        clean(version),
        implementation=impl,
        implementation_version=impl_v,
        python=python,
        system=system,
        system_release=release,
        distro=distro,
        distro_version=distro_v,
        libc=libc,
        libc_version=libc_v,
    )
