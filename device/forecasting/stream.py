"""One meter's stream, minute by minute: dedupe on the timestamp, late readings, absent minutes and nulls.

Readings may arrive twice (QoS 1 is at-least-once), late, with minutes missing, or with null values. This module
turns them into the gap-free, forward-filled minute rows the models were trained on, using the contract's
:func:`~device.contract.forward_fill` (the very code the host ran over the training file), and says what it did so
the agent can count it.

A late reading for a minute that was forward-filled (a QoS 1 redelivery after newer readings: NATS after its
``ack_wait``, Mosquitto after a restart) is not thrown away: it replaces the filled row, and the filled minutes after
it that were filled from the same older value, up to the next minute that arrived (``Outcome.REFILLED``). The rows
of filled minutes are kept for that, within the dedupe horizon: memory only for minutes that were filled.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from device.contract import MEASUREMENTS, forward_fill
from device.forecasting.ringbuffer import RingBuffer


def forget_through(by_minute: dict[int, Any], minute: int) -> None:
    """Drop the entries at or before ``minute`` from a dict filled in minute order (oldest first)."""
    while by_minute:
        oldest = next(iter(by_minute))
        if oldest > minute:
            return
        del by_minute[oldest]


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicates"  # a reading for a minute already received
    LATE = "late"  # older than the newest minute, not a duplicate and past the dedupe horizon (or before a reset)
    REFILLED = "refilled"  # a late real value for a forward-filled minute: it replaced the filled rows
    UNFILLABLE = "unfillable"  # a null in a needed measurement with nothing before it to fill from


@dataclass(frozen=True)
class StreamUpdate:
    """What one reading added: the minute rows (absent minutes first, then the reading itself); for
    ``REFILLED``, the rows it replaced (its own minute first, then the minutes that had been filled from the same
    older value), with ``replaced`` holding what they were before."""

    outcome: Outcome
    minutes: np.ndarray  # int64 (k,)
    rows: np.ndarray  # float64 (k, len(MEASUREMENTS)), forward-filled
    filled: np.ndarray  # bool (k,): True where no reading (or a null in a needed value) supplied the row
    nulls: int = 0  # null values in the reading
    reset: bool = False  # the gap exceeded the limit, so the history before these rows was dropped
    replaced: np.ndarray | None = None  # REFILLED: the filled rows these rows replace

    @classmethod
    def rejected(cls, outcome: Outcome, nulls: int = 0) -> StreamUpdate:
        empty = np.empty(0, np.int64)
        return cls(outcome, empty, np.empty((0, len(MEASUREMENTS))), np.empty(0, bool), nulls)


class MeterStream:
    """Minute bookkeeping for one meter; the model windows live elsewhere, fed from :class:`StreamUpdate`."""

    def __init__(self, dedupe_minutes: int, max_gap_minutes: int, needed: tuple[str, ...] = MEASUREMENTS) -> None:
        # Rows are consecutive minutes, so a row's minute is implied by its age: keep two flags per minute only,
        # (a reading arrived, no value of it was filled), for a long dedupe horizon at 2 bytes a minute.
        self._flags = RingBuffer(dedupe_minutes, 2, np.bool_)
        self._last_minute: int | None = None
        self._max_gap = max_gap_minutes
        self._needed = np.array([MEASUREMENTS.index(n) for n in needed], np.intp)
        self._last_row: np.ndarray | None = None
        self.rows_since_reset = 0
        #: accepted readings in a row that each came after absent minutes (a broker splitting the meter's minutes)
        self.holes_in_a_row = 0
        #: minute -> the row a forward-filled (absent) minute holds, within the dedupe horizon, oldest first
        self._filled_rows: dict[int, np.ndarray] = {}

    @property
    def last_minute(self) -> int | None:
        return self._last_minute

    def state(self) -> dict[str, Any]:
        """Everything needed to carry on after a restart, as JSON-ready values."""
        flags = self._flags.last(self._flags.size)
        return {
            "last_minute": self._last_minute,
            "last_row": None if self._last_row is None else [None if np.isnan(v) else float(v) for v in self._last_row],
            "rows_since_reset": self.rows_since_reset,
            "received": np.flatnonzero(flags[:, 0]).tolist(),  # ages are implied: row i of flags.size rows
            "read": np.flatnonzero(flags[:, 1]).tolist(),
            "rows": len(flags),
            "filled_rows": [[m, [None if np.isnan(v) else float(v) for v in r]] for m, r in self._filled_rows.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        flags = np.zeros((int(state["rows"]), 2), np.bool_)
        flags[state["received"], 0] = True
        flags[state["read"], 1] = True
        self._flags.restore(flags)
        self._last_minute = state["last_minute"]
        row = state["last_row"]
        self._last_row = None if row is None else np.array([np.nan if v is None else v for v in row], np.float64)
        self.rows_since_reset = int(state["rows_since_reset"])
        self._filled_rows = {
            int(m): np.array([np.nan if v is None else v for v in r], np.float64)
            for m, r in state.get("filled_rows", [])
        }

    def reconfigure(self, dedupe_minutes: int, needed: tuple[str, ...]) -> None:
        """Take the dedupe horizon and needed measurements of a new model set (the agent reloaded its models): the
        newest flags and filled rows that fit the new horizon are kept, so duplicates and late real values are
        still recognised across the reload; the rows already taken stay as they were filled."""
        self._needed = np.array([MEASUREMENTS.index(n) for n in needed], np.intp)
        if dedupe_minutes == self._flags.capacity:
            return
        kept = self._flags.last(min(self._flags.size, dedupe_minutes)).copy()
        self._flags = RingBuffer(dedupe_minutes, 2, np.bool_)
        self._flags.restore(kept)
        if self._last_minute is not None:
            forget_through(self._filled_rows, self._last_minute - dedupe_minutes)

    def filled_recently(self, n: int) -> bool:
        """Whether any of the newest ``n`` rows was filled rather than read (for the DROP fill policy)."""
        n = min(n, self._flags.size)
        return not self._flags.last(n)[:, 1].all()

    def accept(self, minute: int, values: np.ndarray, held: bool = False) -> StreamUpdate:
        """Take one minute's reading (``held``: a value carried over by the resampler, no sample of its own)."""
        nulls = int(np.isnan(values).sum())
        last = self.last_minute
        if last is not None and minute <= last:
            age = last - minute
            if age < self._flags.size and bool(self._flags.ago(age)[0]):
                return StreamUpdate.rejected(Outcome.DUPLICATE, nulls)
            if minute in self._filled_rows:
                return self._refill(minute, age, values, nulls)
            return StreamUpdate.rejected(Outcome.LATE, nulls)
        absent = 0 if last is None else minute - last - 1
        reset = absent > self._max_gap
        previous = None if reset else self._last_row
        if absent == 0 and nulls == 0:
            rows = values[None]  # nothing to fill: forward_fill would return it unchanged
        else:
            # Absent minutes are NaN rows; forward_fill treats them exactly like nulls in the training file.
            block = np.full((absent * (not reset) + 1, len(MEASUREMENTS)), np.nan)
            block[-1] = values
            rows = forward_fill(block if previous is None else np.vstack([previous, block]))[-len(block) :]
            if np.isnan(rows[-1, self._needed]).any():
                return StreamUpdate.rejected(Outcome.UNFILLABLE, nulls)
        if reset:
            self._flags.clear()
            self._filled_rows.clear()
            self.rows_since_reset = 0
        minutes = np.arange(minute - len(rows) + 1, minute + 1, dtype=np.int64)
        if len(rows) > 1:
            self._filled_rows.update(zip(minutes[:-1].tolist(), rows[:-1]))
        if self._filled_rows:
            forget_through(self._filled_rows, minute - self._flags.capacity)
        filled = np.ones(len(rows), bool)
        filled[-1] = held or (nulls > 0 and bool(np.isnan(values[self._needed]).any()))
        for _ in range(len(rows) - 1):
            self._flags.append((False, False))  # an absent minute
        self._flags.append((True, not filled[-1]))  # even with a null in it: a resend of this minute is a duplicate
        self.holes_in_a_row = self.holes_in_a_row + 1 if absent > 0 and not reset else 0
        self._last_minute = minute
        self._last_row = rows[-1].copy()
        self.rows_since_reset += len(rows)
        return StreamUpdate(Outcome.ACCEPTED, minutes, rows, filled, nulls, reset)

    def _refill(self, minute: int, age: int, values: np.ndarray, nulls: int) -> StreamUpdate:
        """A real value for a filled minute: it replaces that row and the filled rows after it, up to the next
        minute that arrived (they were all filled from the same older value); ``age`` is how many minutes before the
        newest it is."""
        old = self._filled_rows.pop(minute)
        self.holes_in_a_row = 0
        missing = np.isnan(values)
        row = np.where(missing, old, values)  # its own nulls keep the value they were filled with
        read = not missing[self._needed].any()
        minutes = [minute]
        while minutes[-1] + 1 in self._filled_rows:
            minutes.append(minutes[-1] + 1)
        replaced = np.vstack([old] + [self._filled_rows[m] for m in minutes[1:]])
        for m in minutes[1:]:
            self._filled_rows[m] = row
        self._flags.set_ago(age, (True, read))
        filled = np.ones(len(minutes), bool)
        filled[0] = not read
        return StreamUpdate(
            Outcome.REFILLED,
            np.array(minutes, np.int64),
            np.tile(row, (len(minutes), 1)),
            filled,
            nulls,
            replaced=replaced,
        )
