"""The agent's memory across restarts: every meter's stream, windows, pending predictions and scores, and the sources'
open minutes and meter id owners, in one file.

Written atomically (a temp file, fsync, rename) with a sha256 of its body in the first line, so a crash mid-write
leaves the previous file, and a truncated or corrupted one is recognised and ignored with a warning: the agent then
starts empty, which costs two readings of warm-up per meter, never a crash. A model whose window or scaling changed
since the save starts empty too (its saved windows would be in other units).

The sources' part (``intake``) came after version 1 and is optional: a file without it (an older agent's) restores the
forecaster and starts the sources empty, as before, and an older agent reading a newer file ignores it; hence no new
version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.atomic import write_atomic
from device.forecasting.forecaster import Forecaster

if TYPE_CHECKING:
    from device.sources.intake import SourceIntake

log = logging.getLogger(__name__)
STATE_VERSION = 1


@dataclass(frozen=True)
class Restored:
    """What :func:`load_state` found: ``outcome`` is restored, absent or ignored (with the reason)."""

    outcome: str
    reason: str = ""
    meters: int = 0


def _models(forecaster: Forecaster) -> dict[str, dict[str, Any]]:
    return {m.name: {"window": m.entry.window.to_dict(), "scaling": m.scaling.to_dict()} for m in forecaster.models}


def save_state(path: Path, forecaster: Forecaster, intake: SourceIntake | None = None) -> int:
    """Write the state; returns its size in bytes."""
    saved = {"version": STATE_VERSION, "models": _models(forecaster), "forecaster": forecaster.state()}
    if intake is not None:
        saved["intake"] = intake.state()
    body = json.dumps(saved, separators=(",", ":"), allow_nan=False).encode()
    data = json.dumps({"sha256": hashlib.sha256(body).hexdigest()}).encode() + b"\n" + body
    write_atomic(path, data, durable=True)
    return len(data)


def load_state(path: Path, forecaster: Forecaster, intake: SourceIntake | None = None) -> Restored:
    """Restore ``forecaster`` (and ``intake``) from ``path`` if the file is there, whole and for these models. The
    intake goes first: if the forecaster's part then fails, the open minutes still close to their true values, into
    empty streams."""
    path = Path(path)
    if not path.is_file():
        return Restored("absent")
    try:
        header, _, body = path.read_bytes().partition(b"\n")
        expected = json.loads(header)["sha256"]
        if hashlib.sha256(body).hexdigest() != expected:
            raise ValueError("its sha256 does not match (truncated or corrupted)")
        saved = json.loads(body)
        if saved["version"] != STATE_VERSION:
            raise ValueError(f"format version {saved['version']}, this agent reads {STATE_VERSION}")
        current = _models(forecaster)
        same = {name for name, desc in current.items() if saved["models"].get(name) == desc}
        for name in sorted(set(current) - same):
            log.warning("state %s: model %s is new or changed since the save; it starts empty", path, name)
        if intake is not None and "intake" in saved:
            intake.restore(saved["intake"])
        forecaster.restore(saved["forecaster"], same)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        log.warning("ignoring the state file %s: %s: %s", path, type(exc).__name__, exc)
        return Restored("ignored", f"{type(exc).__name__}: {exc}")
    log.info(
        "restored %d meters (%d with open minutes) from %s",
        len(forecaster.meters),
        0 if intake is None else len(intake.resampler),
        path,
    )
    return Restored("restored", meters=len(forecaster.meters))
