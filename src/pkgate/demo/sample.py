"""Sample wheels for `pkgate demo` when it runs from an installed pkgate, without a checkout's
`.cache/test-dists`: a few small, valid, installable wheels of obviously-demo projects, written
offline, so the demo works anywhere. (A checkout's real wheels are used when present.)
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path
from typing import Final, NamedTuple

__all__ = ["SAMPLES", "write_sample_wheels"]


class Sample(NamedTuple):
    """One project of the sample index: its versions (oldest first) and what it requires."""

    name: str
    versions: tuple[str, ...]
    requires: tuple[str, ...] = ()


SAMPLES: Final = (
    Sample("demo-app", ("0.9.0", "1.0.0"), ("demo-lib>=1.1",)),
    Sample("demo-cli", ("3.2.1",)),
    Sample("demo-lib", ("1.0.0", "1.1.0", "2.0.0")),
    Sample("demo-plugins", ("1.4.0",), ("demo-lib",)),
    Sample("demo-utils", ("0.1.0", "0.2.0")),
)


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _wheel(sample: Sample, version: str, dest: Path) -> Path:
    module = sample.name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    metadata = "".join(
        [
            f"Metadata-Version: 2.1\nName: {sample.name}\nVersion: {version}\n",
            "Summary: A sample project of the pkgate demo\nRequires-Python: >=3.8\n",
            *(f"Requires-Dist: {r}\n" for r in sample.requires),
        ]
    )
    files = {
        f"{module}/__init__.py": f'"""A sample project of the pkgate demo."""\n\n__version__ = "{version}"\n',
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: pkgate-demo\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    blobs = {path: text.encode() for path, text in files.items()}
    record = [_record_line(path, data) for path, data in blobs.items()] + [f"{info}/RECORD,,"]
    blobs[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = dest / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in blobs.items():
            zf.writestr(zipfile.ZipInfo(path, (2026, 1, 1, 0, 0, 0)), data)
    return out


def write_sample_wheels(dest: Path, samples: tuple[Sample, ...] = SAMPLES) -> Path:
    """Write every sample wheel into `dest` (created); return `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for sample in samples:
        for version in sample.versions:
            _wheel(sample, version, dest)
    return dest
