"""The dataset every host side shares: load the UCI household power data onto a regular one-minute grid, fill gaps
by a declared policy, resample, and split it chronologically by a named protocol (:func:`load_split`).

``python -m train`` and ``train.search`` cut their splits here, ``convert`` rebuilds a hand-over's test part from the
split it records, and the simulator replays the rows no default training saw (:func:`held_out_start`). Importing this
module loads pandas, never TensorFlow.

Three flavours are read: the raw UCI ``.txt`` (``;``-separated, ``?`` for missing, d/m/yyyy dates without zero
padding, CRLF), the ``.zip`` that holds it, and the cleaned CSV with a ``Datetime`` column that the seed notebook
used. Every path is vectorised: the full 2,075,259-row file loads in about two seconds, because dates and times
are parsed once per distinct value (1,442 days, 1,440 times of day) instead of once per row.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from device.contract import MEASUREMENTS, UCI_COLUMNS, FillPolicy, forward_fill
from train.recording import is_recording, read_recording

log = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"
#: Resampling rules and their block length in minutes (means over each block, as pandas ``resample().mean()``).
RULE_MINUTES: dict[str, int] = {"1min": 1, "1h": 60, "1D": 24 * 60, "1W": 7 * 24 * 60}
# Blocks are aligned to the epoch; 1970-01-01 was a Thursday, so weekly blocks are shifted to start on Mondays.
_BLOCK_OFFSET_MIN: dict[str, int] = {"1W": 4 * 24 * 60}


@dataclass(frozen=True)
class FillReport:
    """What the fill policy did, for the report a person reads."""

    policy: FillPolicy
    rows: int  # rows on the regular grid before filling
    missing_rows: int  # ``?`` rows plus absent minutes
    absent_minutes: int  # minutes with no line in the file at all (a subset of missing_rows)
    leading_dropped: int  # missing rows at the start, with nothing to fill from

    def describe(self) -> str:
        what = {
            FillPolicy.FORWARD_FILL: "forward-filled (each repeats the last known reading)",
            FillPolicy.DROP: "forward-filled for continuity, and every window or target touching one is dropped",
        }[self.policy]
        return (
            f"{self.missing_rows:,} of {self.rows:,} rows missing ({100 * self.missing_rows / max(self.rows, 1):.2f}%, "
            f"{self.absent_minutes:,} of them absent minutes); {what}; {self.leading_dropped:,} leading rows dropped"
        )


@dataclass
class Measurements:
    """The 7 measurements on a regular one-minute (or resampled) grid.

    ``values`` keeps NaN where a reading is missing until :meth:`fill` is called, so a replay can publish the gaps
    as nulls exactly where the meter was silent. ``missing`` stays True on filled rows, for the drop policy.
    """

    minutes: np.ndarray  # int64 minutes since 1970-01-01, strictly increasing by ``step_minutes``
    values: dict[str, np.ndarray]  # short name (device.contract.MEASUREMENTS) -> float64, raw units
    missing: np.ndarray  # bool per row: the reading was ``?``, absent, or (after resampling) the whole block was
    step_minutes: int = 1
    source: str = ""
    absent_minutes: int = field(default=0)
    #: The household's wall-clock minute of each row, where it differs from ``minutes`` (a recording keeps UTC
    #: minutes, which never jump, and the local clock the calendar features need); None: ``minutes`` are wall clock.
    wall_minutes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.minutes)

    @property
    def missing_rows(self) -> int:
        return int(self.missing.sum())

    @property
    def clock_minutes(self) -> np.ndarray:
        """The minutes the calendar features are computed from: the household's wall clock."""
        return self.minutes if self.wall_minutes is None else self.wall_minutes

    @property
    def available(self) -> tuple[str, ...]:
        """The measurements the source has: those with at least one value (a Tasmota plug has no sub-meters)."""
        return tuple(m for m in MEASUREMENTS if not np.isnan(self.values[m]).all())

    def rows(self, rows: slice) -> Measurements:
        """A contiguous part (a chronological split), as a view."""
        return self._with(rows)

    def _with(self, rows: slice | np.ndarray, values: dict[str, np.ndarray] | None = None) -> Measurements:
        """The rows ``rows`` (optionally with other values for them), everything else kept."""
        return Measurements(
            self.minutes[rows],
            {k: v[rows] for k, v in self.values.items()} if values is None else values,
            self.missing[rows],
            self.step_minutes,
            self.source,
            self.absent_minutes,
            None if self.wall_minutes is None else self.wall_minutes[rows],
        )

    def fill(self, policy: FillPolicy = FillPolicy.FORWARD_FILL) -> tuple[Measurements, FillReport]:
        """Forward-fill every gap (both policies: windows need continuity; DROP then discards touched windows via
        ``missing``) and drop the leading rows nothing can fill from. A measurement the source never sends stays
        NaN and does not make rows unfillable."""
        stacked = forward_fill(np.stack([self.values[m] for m in MEASUREMENTS], axis=1))
        present = [MEASUREMENTS.index(m) for m in self.available]
        unfillable = np.isnan(stacked[:, present]).any(axis=1)
        leading = int(np.argmin(unfillable)) if not unfillable.all() else len(unfillable)
        filled = self._with(slice(leading, None), {m: stacked[leading:, i] for i, m in enumerate(MEASUREMENTS)})
        report = FillReport(policy, len(self), self.missing_rows, self.absent_minutes, leading)
        log.info("%s: %s", self.source or "data", report.describe())
        return filled, report


def load_measurements(path: Path = DEFAULT_DATA) -> Measurements:
    """Read the raw UCI ``.txt``/``.zip``, the cleaned ``Datetime`` CSV, or an agent's recording (a folder or one of
    its day files, :mod:`train.recording`) onto a regular one-minute grid."""
    path = Path(path)
    if is_recording(path):
        return load_recording(path)
    header = pd.read_csv(path, sep=";", nrows=0).columns
    if "Date" in header and "Time" in header:
        frame = pd.read_csv(path, sep=";", na_values="?", dtype={"Date": "category", "Time": "category"})
        minutes = _category_minutes(frame["Date"], "%d/%m/%Y") + _category_minutes(frame["Time"], "%H:%M:%S")
    else:
        # The notebook's cleaned CSV is comma-separated; a single ";"-column header means commas.
        frame = pd.read_csv(path, sep="," if len(header) == 1 else ";", na_values="?")
        if "Datetime" not in frame.columns:
            raise ValueError(
                f"{path}: expected the raw UCI columns Date;Time;... or a Datetime column, got {list(frame.columns)}"
            )
        minutes = pd.to_datetime(frame["Datetime"]).to_numpy("datetime64[m]").astype(np.int64)
    missing_columns = [c for c in UCI_COLUMNS.values() if c not in frame.columns]
    if missing_columns:
        raise ValueError(f"{path}: missing columns {missing_columns}")
    raw = frame[[UCI_COLUMNS[m] for m in MEASUREMENTS]].to_numpy(np.float64)
    measurements = _on_regular_grid(minutes, raw, str(path))
    log.info(
        "%s: %d rows from %s to %s",
        path.name,
        len(measurements),
        *(np.datetime64(int(m), "m") for m in measurements.minutes[[0, -1]]),
    )
    return measurements


def load_recording(path: Path) -> Measurements:
    """One meter's recording on a regular grid of UTC minutes; filled and absent minutes are missing rows, and each
    row keeps its wall-clock minute (an absent minute takes the offset of the row before it)."""
    recorded = read_recording(path)
    measurements = _on_regular_grid(recorded.minutes, recorded.raw, f"{path} (meter {recorded.meter})")
    rows = recorded.minutes - recorded.minutes[0]
    offsets = np.zeros(len(measurements), np.int64)
    offsets[rows] = recorded.wall_minutes - recorded.minutes
    last_recorded = np.zeros(len(measurements), np.intp)
    last_recorded[rows] = rows
    measurements.wall_minutes = measurements.minutes + offsets[np.maximum.accumulate(last_recorded)]
    log.info(
        "%s: meter %s, %d day files, %d minutes from %s to %s UTC, %d real; %d corrected lines, %d incomplete "
        "lines dropped",
        path,
        recorded.meter,
        recorded.files,
        len(measurements),
        *(np.datetime64(int(m), "m") for m in measurements.minutes[[0, -1]]),
        int((~measurements.missing).sum()),
        recorded.corrections,
        recorded.bad_lines,
    )
    return measurements


def fingerprint(path: Path) -> str:
    """sha256 of a data file, or of a folder (a recording): over each file's relative path and sha256, in order, so
    the manifest can say exactly which data a model came from."""
    path = Path(path)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path)}\0{hashlib.sha256(file.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def _complete(values: np.ndarray) -> np.ndarray:
    """Rows (n, len(MEASUREMENTS)) holding every measurement the source sends: one it never sends (a plug's
    sub-meters) does not make every row missing."""
    sent = ~np.isnan(values).all(axis=0)
    return ~np.isnan(values[:, sent]).any(axis=1) & sent.any()


@dataclass(frozen=True)
class RecordingExtent:
    """How much history one meter's recording holds: what retraining needs enough of, and what a model's manifest
    entry records about the data it came from."""

    folder: str
    meter: str
    fingerprint: str
    first_minute: int  # UTC minutes since the epoch
    last_minute: int
    real_minutes: int  # minutes with a real reading (not filled, every measurement the source sends present)

    @property
    def days(self) -> float:
        """Days from the first to the last minute, both included."""
        return (self.last_minute - self.first_minute + 1) / (24 * 60)

    @property
    def real_days(self) -> float:
        return self.real_minutes / (24 * 60)

    def to_dict(self) -> dict[str, Any]:
        first, last = (f"{np.datetime64(m, 'm')}Z" for m in (self.first_minute, self.last_minute))
        return {
            "folder": self.folder,
            "meter": self.meter,
            "fingerprint": self.fingerprint,
            "first_minute_utc": first,
            "last_minute_utc": last,
            "days": round(self.days, 4),
            "real_minutes": self.real_minutes,
        }


def recording_extent(path: Path) -> RecordingExtent:
    """The extent of the recording at ``path`` (a meter's folder, a root holding one meter, or a day file)."""
    recorded = read_recording(path)
    return RecordingExtent(
        str(path),
        recorded.meter,
        fingerprint(path),
        int(recorded.minutes[0]),
        int(recorded.minutes[-1]),
        int(_complete(recorded.raw).sum()),
    )


def data_source(path: Path) -> dict[str, Any]:
    """What a model was trained on, for its manifest entry: a data file's name and sha256, or a recording's
    :class:`RecordingExtent` (folder, meter, fingerprint, first and last UTC minute, days, real minutes)."""
    path = Path(path)
    if is_recording(path):
        described = recording_extent(path).to_dict()
        return {"data": described.pop("folder"), **described}
    return {"data": path.name, "data_sha256": fingerprint(path)}


def _category_minutes(column: pd.Series, fmt: str) -> np.ndarray:
    """Parse each distinct date or time once, then broadcast by category code (minutes since the epoch/midnight)."""
    parsed = pd.to_datetime(column.cat.categories, format=fmt)
    if fmt.startswith("%H"):
        parsed = parsed - parsed.normalize()
        as_minutes = (parsed.total_seconds().to_numpy() // 60).astype(np.int64)
    else:
        as_minutes = parsed.to_numpy().astype("datetime64[m]").astype(np.int64)
    return as_minutes[column.cat.codes.to_numpy()]


def _on_regular_grid(minutes: np.ndarray, raw: np.ndarray, source: str) -> Measurements:
    """Place rows on one row per minute from first to last; absent minutes become missing (NaN) rows."""
    order = np.argsort(minutes, kind="stable")
    minutes, raw = minutes[order], raw[order]
    unique = np.concatenate([[True], np.diff(minutes) > 0])
    if not unique.all():
        log.warning("%s: %d duplicate timestamps, keeping the first of each", source, int((~unique).sum()))
        minutes, raw = minutes[unique], raw[unique]
    grid = np.arange(minutes[0], minutes[-1] + 1, dtype=np.int64)
    values = np.full((len(grid), raw.shape[1]), np.nan)
    values[minutes - minutes[0]] = raw
    missing = ~_complete(values)
    return Measurements(
        grid,
        {m: values[:, i] for i, m in enumerate(MEASUREMENTS)},
        missing,
        1,
        source,
        absent_minutes=len(grid) - len(minutes),
    )


def resample(measurements: Measurements, rule: str) -> Measurements:
    """Means over calendar blocks (``1min``, ``1h``, ``1D``, ``1W`` starting Monday), like pandas
    ``resample(rule).mean()``: NaN readings are ignored, partial blocks at the ends are kept, and a block is
    missing only when every reading in it was."""
    if rule not in RULE_MINUTES:
        raise ValueError(f"unknown rule {rule!r}; use one of {list(RULE_MINUTES)}")
    block = RULE_MINUTES[rule]
    if block == measurements.step_minutes:
        return measurements
    if measurements.step_minutes != 1:
        raise ValueError("resample a one-minute series only")
    offset = _BLOCK_OFFSET_MIN.get(rule, 0)
    group = (measurements.minutes - offset) // block
    starts = np.flatnonzero(np.concatenate([[True], np.diff(group) > 0]))
    stamps = group[starts] * block + offset

    def block_mean(column: np.ndarray) -> np.ndarray:
        valid = ~np.isnan(column)
        total = np.add.reduceat(np.where(valid, column, 0.0), starts)
        count = np.add.reduceat(valid.astype(np.int64), starts)
        return np.divide(total, count, out=np.full(len(starts), np.nan), where=count > 0)

    values = {m: block_mean(v) for m, v in measurements.values.items()}
    missing = np.logical_and.reduceat(measurements.missing, starts)
    wall = None if measurements.wall_minutes is None else measurements.wall_minutes[starts]
    return Measurements(stamps, values, missing, block, measurements.source, measurements.absent_minutes, wall)


# --- Chronological splits only: a forecaster must never train on minutes that come after the ones it is tested on.
# Three protocols:
# - ``notebook``: a contiguous subset (1% of the rows, about 20.7k on the full file; see :func:`contiguous_subset` for
#   small files), then the first 80% of it to train and the last 20% to test;
# - ``fraction``: the first 80% of the whole file to train, the rest to test (the microcontroller search's);
# - ``paper`` (Le et al. 2019): train before 2009-12-16, test from that day on;
# - ``recent``: the last ``test_days`` days to test, everything before them to train (retraining on a recording).

PROTOCOLS = ("notebook", "fraction", "paper", "recent")
#: The notebook protocol's defaults, shared by :class:`train.config.TrainConfig` and :func:`held_out_start`.
SUBSET_FRACTION = 0.01
SUBSET_MIN_ROWS = 20_000
TRAIN_FRACTION = 0.8
PAPER_CUT_DATE = "2009-12-16"
#: The recent protocol's held-out tail: the last week, every weekday once.
TEST_DAYS = 7


def contiguous_subset(
    n_rows: int, fraction: float = SUBSET_FRACTION, seed: int = 0, min_rows: int = SUBSET_MIN_ROWS
) -> slice:
    """A contiguous block of ``max(fraction * n_rows, min(n_rows, min_rows))`` rows at a seeded random start.

    The floor keeps the notebook's ~20k-row scale on small files: 1% of the bundled 14-day slice would be 201 rows,
    too few to train anything, so there the subset is 20,000 of its 20,160 rows.
    """
    length = max(int(round(fraction * n_rows)), min(n_rows, min_rows))
    start = int(np.random.default_rng(seed).integers(0, n_rows - length + 1))
    return slice(start, start + length)


def train_test_by_fraction(n_rows: int, train_fraction: float = TRAIN_FRACTION) -> tuple[slice, slice]:
    """The first ``train_fraction`` of the rows to train, the rest to test."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    cut = int(n_rows * train_fraction)
    return slice(0, cut), slice(cut, n_rows)


def train_test_by_date(minutes: np.ndarray, cut_date: str = PAPER_CUT_DATE) -> tuple[slice, slice]:
    """Rows before ``cut_date`` (midnight) to train, rows from it on to test; ``minutes`` since the epoch, sorted."""
    cut_minute = np.datetime64(cut_date, "m").astype(np.int64)
    cut = int(np.searchsorted(minutes, cut_minute))
    if cut == 0 or cut == len(minutes):
        first, last = (np.datetime64(int(m), "m") for m in (minutes[0], minutes[-1]))
        raise ValueError(f"cut date {cut_date} leaves an empty part: the data run from {first} to {last}")
    return slice(0, cut), slice(cut, len(minutes))


def rows_between(minutes: np.ndarray, start: str, end: str) -> slice:
    """Rows from ``start`` (midnight) up to, not including, ``end``; ``minutes`` since the epoch, sorted. Raises
    ValueError unless the data cover the whole period, so a model never silently trains or is tested on less."""
    first, last = (np.datetime64(d, "m").astype(np.int64) for d in (start, end))
    if first >= last:
        raise ValueError(f"the period {start}..{end} is empty")
    if first < minutes[0] or last - 1 > minutes[-1]:
        covered = " to ".join(str(np.datetime64(int(m), "m")) for m in (minutes[0], minutes[-1]))
        raise ValueError(f"the period {start}..{end} is not inside the data, which run from {covered}")
    return slice(int(np.searchsorted(minutes, first)), int(np.searchsorted(minutes, last)))


def train_test_by_days(n_rows: int, step_minutes: int, test_days: int = TEST_DAYS) -> tuple[slice, slice]:
    """Everything before the last ``test_days`` days to train, those days to test."""
    test_rows = test_days * 24 * 60 // step_minutes
    if not 0 < test_rows < n_rows:
        raise ValueError(
            f"holding out the last {test_days} days leaves no rows to train on: the data hold "
            f"{n_rows * step_minutes / (24 * 60):.1f} days"
        )
    return slice(0, n_rows - test_rows), slice(n_rows - test_rows, n_rows)


def held_out_start(
    n_rows: int, fraction: float = SUBSET_FRACTION, seed: int = 0, train_fraction: float = TRAIN_FRACTION
) -> int:
    """First row that the default (notebook-protocol) training never saw: the start of its test part.

    Every row from here to the end of the file is unseen (the test part, then rows after the subset), so a replay
    starting here scores the models honestly.
    """
    subset = contiguous_subset(n_rows, fraction, seed)
    train, _ = train_test_by_fraction(subset.stop - subset.start, train_fraction)
    return subset.start + train.stop


@dataclass(frozen=True)
class SplitSpec:
    """Which rows of which data train and test a model; recorded in every hand-over, so a split can be rebuilt."""

    data: Path = DEFAULT_DATA
    protocol: str = "notebook"
    resample: str = "1min"
    fill_policy: FillPolicy = FillPolicy.FORWARD_FILL
    subset_fraction: float = SUBSET_FRACTION  # notebook
    subset_min_rows: int = SUBSET_MIN_ROWS  # notebook
    train_fraction: float = TRAIN_FRACTION  # notebook (of the subset) and fraction (of the file)
    cut_date: str = PAPER_CUT_DATE  # paper
    seed: int = 0  # notebook: where the subset starts
    test_days: int = TEST_DAYS  # recent

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.resample not in RULE_MINUTES:
            raise ValueError(f"resample must be one of {list(RULE_MINUTES)}, got {self.resample!r}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "data": str(self.data), "fill_policy": self.fill_policy.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitSpec:
        return cls(**{**d, "data": Path(d["data"]), "fill_policy": FillPolicy(d["fill_policy"])})


@dataclass
class Split:
    """A filled, resampled series (for ``notebook``, only its subset) with its training and test rows."""

    series: Measurements
    train: slice
    test: slice
    fill: FillReport
    description: str  # one sentence for a report


def load_split(spec: SplitSpec) -> Split:
    """Load, fill by ``spec.fill_policy`` (leading unfillable rows dropped), resample and split by the protocol."""
    filled, fill = load_measurements(spec.data).fill(spec.fill_policy)
    series = resample(filled, spec.resample)
    if spec.protocol == "paper":
        train, test = train_test_by_date(series.minutes, spec.cut_date)
        description = f"paper (Le et al. 2019): train before {spec.cut_date}, test from it on."
    elif spec.protocol == "recent":
        train, test = train_test_by_days(len(series), series.step_minutes, spec.test_days)
        description = f"recent: the last {spec.test_days} days to test, the {train.stop:,} rows before them to train."
    elif spec.protocol == "fraction":
        train, test = train_test_by_fraction(len(series), spec.train_fraction)
        description = (
            f"fraction: the first {spec.train_fraction:.0%} of all {len(series):,} rows to train and the rest to test."
        )
    else:
        subset = contiguous_subset(len(series), spec.subset_fraction, spec.seed, spec.subset_min_rows)
        description = (
            f"notebook: a contiguous subset of {subset.stop - subset.start:,} rows (rows {subset.start:,}.."
            f"{subset.stop - 1:,} of {len(series):,}: {spec.subset_fraction:.0%} of the rows but at least "
            f"{min(len(series), spec.subset_min_rows):,}; seed {spec.seed}), the first {spec.train_fraction:.0%} "
            "to train and the rest to test."
        )
        series = series.rows(subset)
        train, test = train_test_by_fraction(len(series), spec.train_fraction)
    log.info(
        "%s: %d rows of %s, %d to train, %d to test",
        spec.data,
        len(series),
        spec.resample,
        train.stop - train.start,
        test.stop - test.start,
    )
    return Split(series, train, test, fill, description)
