"""The host tools the firmware is built and run with (the cross-compiler, make, QEMU, the host's gcc): found on PATH,
or a :class:`ToolMissing` that names the Debian package to install. The tests turn it into a skip, except under CI
(``CI=true``), where a missing tool is a failure (tests/conftest.py)."""

from __future__ import annotations

import shutil


class ToolMissing(RuntimeError):
    """A build or emulation tool is not installed; the message says which Debian package has it."""


def find_tool(name: str, debian_package: str | None = None) -> str:
    """Path of ``name`` on PATH; raises :class:`ToolMissing`."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissing(f"the {name} tool is not installed (apt-get install {debian_package or name})")
    return path
