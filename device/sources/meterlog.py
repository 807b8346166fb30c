"""Rejection log lines that name every meter, yet cannot be flooded: one device's steady stream of bad messages must
not hide another's behind a rate limit, and a flood of ids must not grow memory without bound."""

from __future__ import annotations

import logging
import time
from collections import Counter


class MeterLog:
    """The first line of each (key, meter) always; after that at most one line per key every ``interval_s`` (the
    next says how many were suppressed). Remembers at most ``max_named`` (key, meter) pairs, the oldest first out."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0, max_named: int = 10_000) -> None:
        self._logger = logger
        self._interval = interval_s
        self._max_named = max_named
        self._named: dict[tuple[str, str], None] = {}
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def warning(self, key: str, meter: str, message: str, *args: object) -> None:
        now = time.monotonic()
        new = (key, meter) not in self._named
        if not new and now - self._last.get(key, -self._interval) < self._interval:
            self._suppressed[key] += 1
            return
        if new:
            if len(self._named) >= self._max_named:
                del self._named[next(iter(self._named))]
            self._named[(key, meter)] = None
        self._last[key] = now
        skipped = self._suppressed.pop(key, 0)
        self._logger.warning(message + (f" ({skipped} more suppressed)" if skipped else ""), *args)
