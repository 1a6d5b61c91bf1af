"""The OCI ecosystem: the distribution API (`/v2/`) of container registries, read-only.

`MODULE` is what `pkgate.edge.registry` registers; see `ecosystem.py` for what is answered how.
"""

from __future__ import annotations

from pkgate.edge.oci.ecosystem import BLOB, MANIFEST, MODULE, OciEcosystem

__all__ = ["BLOB", "MANIFEST", "MODULE", "OciEcosystem"]
