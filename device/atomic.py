"""Whole-file writes a reader never sees half of: the state file, the metrics snapshot, the asset manifest.

Its own module because the manifest needs it and everything else in the device package imports the manifest.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, durable: bool = False) -> None:
    """Write via a temp file and rename, so a reader never sees half a file; ``durable`` also syncs it to disk
    before the rename, so a power cut leaves the old file or the new one, never an empty one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
