"""Where EMHASS is installed for the tests (``make emhass-venv``): its own venv, never the project's."""

from __future__ import annotations

import os
from pathlib import Path

from simulator.brokers import BinaryMissing

REPO = Path(__file__).resolve().parent.parent


def emhass_python() -> Path:
    """The EMHASS venv's Python, or :class:`BinaryMissing` saying how to get it (a skip locally, a failure in CI)."""
    python = Path(os.environ.get("WATTCAST_EMHASS_VENV", REPO / ".emhass-venv")) / "bin" / "python"
    if not python.is_file():
        raise BinaryMissing(
            f"EMHASS is not installed at {python.parent.parent}: run `make emhass-venv` (Python 3.11+, about a minute "
            "from PyPI), or set WATTCAST_EMHASS_VENV to a venv that has `emhass`"
        )
    return python
