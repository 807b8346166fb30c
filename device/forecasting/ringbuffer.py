"""A fixed-capacity numpy ring buffer whose newest rows are always one contiguous slice.

Every row is written twice, at ``i`` and ``i + capacity``, so :meth:`RingBuffer.last` is a view without a copy or a
modulo gather: appending is O(1), a block of rows is one vectorised write, nothing is ever reallocated, and a window
for the model costs nothing to cut.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


class RingBuffer:
    """The last ``capacity`` rows of ``width`` values each."""

    def __init__(self, capacity: int, width: int, dtype: type = np.float32) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._data: np.ndarray = np.zeros((2 * capacity, width), dtype)
        self._next = 0
        self.size = 0

    def append(self, row: npt.ArrayLike) -> None:
        i = self._next
        self._data[i] = row
        self._data[i + self.capacity] = row
        self._next = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def extend(self, rows: np.ndarray) -> None:
        """Append a block of rows in one write (only the newest ``capacity`` of them can be kept)."""
        if len(rows) <= 1:
            if len(rows):
                self.append(rows[0])
            return
        rows = np.asarray(rows).reshape(len(rows), -1)[-self.capacity :]
        k = len(rows)
        slots = (self._next + np.arange(k)) % self.capacity
        self._data[slots] = rows
        self._data[slots + self.capacity] = rows
        self._next = (self._next + k) % self.capacity
        self.size = min(self.size + k, self.capacity)

    def last(self, n: int) -> np.ndarray:
        """The newest ``n`` rows, oldest first (a view: copy it to keep it past the next append)."""
        if not 0 <= n <= self.size:
            raise IndexError(f"asked for the last {n} rows of {self.size}")
        end = self._next + self.capacity
        return self._data[end - n : end]

    def ago(self, age: int) -> np.ndarray:
        """The row ``age`` appends back (0 is the newest)."""
        row: np.ndarray = self.last(age + 1)[0]
        return row

    def set_ago(self, age: int, row: npt.ArrayLike) -> None:
        """Overwrite the row ``age`` appends back (a late correction of a row already kept)."""
        if not 0 <= age < self.size:
            raise IndexError(f"no row {age} back among {self.size}")
        i = (self._next - 1 - age) % self.capacity
        self._data[i] = row
        self._data[i + self.capacity] = row

    def clear(self) -> None:
        self._next = 0
        self.size = 0

    def restore(self, rows: np.ndarray) -> None:
        """Start over from saved rows (oldest first), as :meth:`last` returned them."""
        self.clear()
        self.extend(np.asarray(rows, self._data.dtype).reshape(-1, self._data.shape[1]))
