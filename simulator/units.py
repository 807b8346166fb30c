"""Numbers as a person reads them in the report: three significant figures in a unit that fits the value
(``2.07 s``, not ``2074756`` µs; ``7.0 KiB``, not ``7184``), and a dash for a figure nobody measured."""

from __future__ import annotations

import math

MISSING = "–"


def is_missing(value: float | int | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def significant(value: float, figures: int = 3) -> str:
    """``value`` to ``figures`` significant figures, never in exponent notation: 0.0448, 1.40, 613, 30,800."""
    if value == 0 or not math.isfinite(value):
        return format(value, "g")
    magnitude = math.floor(math.log10(abs(value)))
    decimals = figures - 1 - magnitude
    return f"{round(value, decimals):,.{max(decimals, 0)}f}"


def _scaled(value: float | int | None, units: tuple[tuple[str, float], ...]) -> str:
    """``value`` in the largest of ``units`` (name, size in the base unit; largest first) it reaches."""
    if value is None or is_missing(value):
        return MISSING
    name, size = next(((n, s) for n, s in units if abs(value) >= s), units[-1])
    return f"{significant(value / size)} {name}"


def duration_us(value: float | None) -> str:
    """A time given in µs: ``0.6 µs``, ``162 µs``, ``1.40 ms``, ``2.07 s``."""
    return _scaled(value, (("s", 1e6), ("ms", 1e3), ("µs", 1.0)))


def size_bytes(value: int | None) -> str:
    """A size in bytes: ``0 B``, ``512 B``, ``2.18 KiB``, ``214 KiB``, ``80.0 MiB``."""
    return _scaled(value, (("GiB", 1024.0**3), ("MiB", 1024.0**2), ("KiB", 1024.0), ("B", 1.0)))


def energy_uj(value: float | None) -> str:
    """An energy given in µJ: ``0.135 µJ``, ``613 µJ``, ``3.71 mJ``, ``5.34 J``."""
    return _scaled(value, (("J", 1e6), ("mJ", 1e3), ("µJ", 1.0), ("nJ", 1e-3)))


def count(value: int | None) -> str:
    return MISSING if is_missing(value) else f"{value:,}"


def number(value: float | None, spec: str = ".4f") -> str:
    return MISSING if is_missing(value) else format(value, spec)
