"""One meter's stream, minute by minute: dedupe on the timestamp, late readings, absent minutes and nulls.

Readings may arrive twice (QoS 1 is at-least-once), late, with minutes missing, or with null values. This module
turns them into the gap-free, forward-filled minute rows the models were trained on, using the contract's
:func:`~device.contract.forward_fill` (the very code the host ran over the training file), and says what it did so
the agent can count it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from device.contract import MEASUREMENTS, forward_fill
from device.ringbuffer import RingBuffer


class Outcome(str, enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicates"  # a reading for a minute already received
    LATE = "late"  # older than the newest minute and not a duplicate: its minute was already filled forward
    UNFILLABLE = "unfillable"  # a null in a needed measurement with nothing before it to fill from


@dataclass(frozen=True)
class StreamUpdate:
    """What one reading added: the minute rows (absent minutes first, then the reading itself)."""

    outcome: Outcome
    minutes: np.ndarray  # int64 (k,)
    rows: np.ndarray  # float64 (k, len(MEASUREMENTS)), forward-filled
    filled: np.ndarray  # bool (k,): True where no reading (or a null in a needed value) supplied the row
    nulls: int = 0  # null values in the reading
    reset: bool = False  # the gap exceeded the limit, so the history before these rows was dropped

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

    @property
    def last_minute(self) -> int | None:
        return self._last_minute

    def state(self) -> dict:
        """Everything needed to carry on after a restart, as JSON-ready values."""
        flags = self._flags.last(self._flags.size)
        return {
            "last_minute": self._last_minute,
            "last_row": None if self._last_row is None else [None if np.isnan(v) else float(v) for v in self._last_row],
            "rows_since_reset": self.rows_since_reset,
            "received": np.flatnonzero(flags[:, 0]).tolist(),  # ages are implied: row i of flags.size rows
            "read": np.flatnonzero(flags[:, 1]).tolist(),
            "rows": len(flags),
        }

    def restore(self, state: dict) -> None:
        flags = np.zeros((int(state["rows"]), 2), np.bool_)
        flags[state["received"], 0] = True
        flags[state["read"], 1] = True
        self._flags.restore(flags)
        self._last_minute = state["last_minute"]
        row = state["last_row"]
        self._last_row = None if row is None else np.array([np.nan if v is None else v for v in row], np.float64)
        self.rows_since_reset = int(state["rows_since_reset"])

    def filled_recently(self, n: int) -> bool:
        """Whether any of the newest ``n`` rows was filled rather than read (for the DROP fill policy)."""
        n = min(n, self._flags.size)
        return not self._flags.last(n)[:, 1].all()

    def accept(self, minute: int, values: np.ndarray) -> StreamUpdate:
        nulls = int(np.isnan(values).sum())
        last = self.last_minute
        if last is not None and minute <= last:
            age = last - minute
            received = age < self._flags.size and bool(self._flags.ago(age)[0])
            return StreamUpdate.rejected(Outcome.DUPLICATE if received else Outcome.LATE, nulls)
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
            self.rows_since_reset = 0
        minutes = np.arange(minute - len(rows) + 1, minute + 1, dtype=np.int64)
        filled = np.ones(len(rows), bool)
        filled[-1] = nulls > 0 and bool(np.isnan(values[self._needed]).any())
        for i in range(len(rows) - 1):
            self._flags.append((False, False))  # an absent minute
        self._flags.append((True, not filled[-1]))  # even with a null in it: a resend of this minute is a duplicate
        self._last_minute = minute
        self._last_row = rows[-1].copy()
        self.rows_since_reset += len(rows)
        return StreamUpdate(Outcome.ACCEPTED, minutes, rows, filled, nulls, reset)
