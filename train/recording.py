"""Reading back what the agent recorded (``--record DIR``, :mod:`device.recording_format`) as training data.

The recording is the user's own house as the agent saw it: UTC minutes, the household's wall clock for the calendar
features, filled minutes flagged. A filled minute is read as a missing one (NaN), so the trainer's fill policy treats
it exactly like a ``?`` in the UCI file, and the real minutes can be counted. A line cut off by a crash (a SIGKILL, a
power cut) is dropped, counted and logged with its file; the rest of the file is read.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from device.contract import MEASUREMENTS, UCI_COLUMNS
from device.recording_format import COLUMNS, DAY_FILE, FILLED_COLUMN, LOCAL_COLUMN, METER_FILE, UTC_COLUMN

log = logging.getLogger(__name__)
_NAIVE = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class RecordedMinutes:
    """Every complete line of a meter's recording, sorted by UTC minute, the last line of each minute kept."""

    meter: str
    minutes: np.ndarray  # int64 UTC minutes since the epoch, strictly increasing
    wall_minutes: np.ndarray  # int64 minutes on the household's clock (for the calendar features)
    raw: np.ndarray  # float64 (n, len(MEASUREMENTS)); NaN where the source lacks a value or the minute was filled
    filled: np.ndarray  # bool (n,)
    files: int
    bad_lines: int  # incomplete or unreadable lines dropped (a write cut off by a crash)
    corrections: int  # lines that replaced an earlier line of the same minute


def is_recording(path: Path) -> bool:
    """A folder (of meters or of day files) or a CSV whose header is the recording's."""
    path = Path(path)
    if path.is_dir():
        return True
    if path.suffix != ".csv" or not path.is_file():
        return False
    with path.open() as f:
        return f.readline().strip().split(",") == list(COLUMNS)


def day_files(path: Path) -> tuple[str, list[Path]]:
    """The meter and its day files at ``path``: one day file, one meter's folder, or a recording root holding
    exactly one meter. Raises ValueError saying what is there otherwise."""
    path = Path(path)
    if path.is_file():
        return _meter_of(path.parent), [path]
    files = sorted(p for p in path.glob("*.csv") if DAY_FILE.fullmatch(p.name))
    if files:
        return _meter_of(path), files
    meters = sorted(
        p for p in path.iterdir() if p.is_dir() and any(DAY_FILE.fullmatch(f.name) for f in p.glob("*.csv"))
    )
    if len(meters) == 1:
        return day_files(meters[0])
    if not meters:
        raise ValueError(
            f"{path}: no recording here (no YYYY-MM-DD.csv day files, nor meter folders holding them); "
            "the agent writes one with --record DIR"
        )
    raise ValueError(
        f"{path} holds {len(meters)} meters ({', '.join(m.name for m in meters)}): pass one meter's "
        f"folder, e.g. --data {meters[0]}"
    )


def _meter_of(folder: Path) -> str:
    """The meter id as published (``meter.json``), else the folder's name."""
    meta = folder / METER_FILE
    try:
        return str(json.loads(meta.read_text())["meter"])
    except (OSError, ValueError, KeyError, TypeError):
        return folder.name


def _read_day_file(path: Path) -> tuple[pd.DataFrame, int]:
    """The complete lines of one day file and how many lines were dropped as incomplete or unreadable."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = [line for line in text.split("\n")[1:] if line]  # [0] is the header
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, on_bad_lines="skip")
    if list(frame.columns) != list(COLUMNS):
        raise ValueError(f"{path}: not a recording day file (header {list(frame.columns)}, expected {list(COLUMNS)})")
    utc = pd.to_datetime(frame[UTC_COLUMN], format=_NAIVE, errors="coerce")
    wall = pd.to_datetime(frame[LOCAL_COLUMN].str.slice(0, 19), format="%Y-%m-%dT%H:%M:%S", errors="coerce")
    complete = utc.notna() & wall.notna() & frame[FILLED_COLUMN].isin(["0", "1"])
    dropped = len(lines) - int(complete.sum())
    if dropped:
        log.warning("%s: %d incomplete or unreadable lines dropped (a write cut off by a crash)", path, dropped)
    frame = frame[complete].assign(_utc=utc[complete], _wall=wall[complete])
    return frame, dropped


def read_recording(path: Path) -> RecordedMinutes:
    """Every complete line of the meter at ``path`` (see :func:`day_files`), corrections applied."""
    meter, files = day_files(path)
    parts, bad = [], 0
    for file in files:
        frame, dropped = _read_day_file(file)
        parts.append(frame)
        bad += dropped
    frame = pd.concat(parts, ignore_index=True)
    if frame.empty:
        raise ValueError(f"{path}: the recording of meter {meter} holds no complete line")
    minutes = frame["_utc"].to_numpy("datetime64[m]").astype(np.int64)
    order = np.argsort(minutes, kind="stable")
    last_of_minute = np.concatenate([np.diff(minutes[order]) > 0, [True]])  # later lines correct earlier ones
    keep = order[last_of_minute]
    frame = frame.iloc[keep]
    raw = np.stack(
        [pd.to_numeric(frame[UCI_COLUMNS[m]], errors="coerce").to_numpy(np.float64) for m in MEASUREMENTS], axis=1
    )
    filled = frame[FILLED_COLUMN].to_numpy() == "1"
    raw[filled] = np.nan
    return RecordedMinutes(
        meter,
        minutes[keep],
        frame["_wall"].to_numpy("datetime64[m]").astype(np.int64),
        raw,
        filled,
        len(files),
        bad,
        len(minutes) - len(keep),
    )
