"""The recording format: what ``--record DIR`` writes and ``python -m train --data DIR`` reads back.

One folder per meter, one CSV per meter and UTC day, in the cleaned-CSV layout the trainer already reads (a
``Datetime`` column and the UCI measurement columns in their units), plus the household's wall-clock time and
whether the minute was filled::

    DIR/<meter folder>/meter.json        {"meter": "<meter id as published>", "timezone": "Europe/Paris"}
    DIR/<meter folder>/2026-12-01.csv    Datetime,Local_datetime,Global_active_power,...,Sub_metering_3,Filled

``Datetime`` is UTC (``YYYY-MM-DD HH:MM:SS``), so a day file never holds a DST jump or a repeated hour;
``Local_datetime`` is the same instant on the household's clock with its offset (``2026-12-01T18:32:00+01:00``),
which the calendar features need. A measurement the source does not send is an empty field. ``Filled`` is 1 where no
reading supplied the minute (an absent minute, a null, a value the resampler held), 0 for a real reading. Each line
is written whole by one ``write``; a later line for the same minute corrects an earlier one (a late real value that
replaced a filled minute), so readers keep the last line of each minute.

The device owns this format (it writes it); the host imports it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from device.contract import MEASUREMENTS, UCI_COLUMNS

UTC_COLUMN = "Datetime"
LOCAL_COLUMN = "Local_datetime"
FILLED_COLUMN = "Filled"
#: The header of every day file, in order.
COLUMNS: tuple[str, ...] = (UTC_COLUMN, LOCAL_COLUMN, *(UCI_COLUMNS[m] for m in MEASUREMENTS), FILLED_COLUMN)
HEADER = ",".join(COLUMNS) + "\n"
METER_FILE = "meter.json"
DAY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.csv")
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def meter_folder(meter: str) -> str:
    """A folder name for a meter id that any filesystem takes, distinct for distinct ids: where making it safe
    changed the id (``house/main``, ``..``), a short hash of the id is appended."""
    safe = _SAFE.sub("_", meter)
    if safe == meter and meter.strip(".") and not meter.startswith("-"):
        return meter
    return f"{safe.strip('.') or 'meter'}_{hashlib.sha256(meter.encode()).hexdigest()[:8]}"


def day_file(root: Path, meter: str, day: str) -> Path:
    """``root/<meter folder>/<day>.csv`` for a UTC day ``YYYY-MM-DD``."""
    return Path(root) / meter_folder(meter) / f"{day}.csv"


def format_value(value: float) -> str:
    """Six significant digits (the UCI file's 3 decimals survive exactly); empty for a value the source lacks."""
    return "" if value != value else f"{value:.6g}"  # NaN != NaN


def _offset(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def format_line(utc_minute: int, wall_minute: int, row: Sequence[float], filled: bool) -> str:
    """One day-file line: the UTC minute, the same minute on the household's clock (``wall_minute``, minutes since
    the epoch on that clock) with its offset, the measurements in :data:`~device.contract.MEASUREMENTS` order, and the
    filled flag."""
    utc = str(np.datetime64(utc_minute, "m"))
    wall = str(np.datetime64(wall_minute, "m"))
    values = ",".join(format_value(float(v)) for v in row)
    return f"{utc[:10]} {utc[11:]}:00,{wall}:00{_offset(wall_minute - utc_minute)},{values},{int(filled)}\n"
