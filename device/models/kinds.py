"""The model kinds a manifest may name.

Each kind is owned by one module of :mod:`device.families` (its manifest entry, its loader and its predictor), named
in :data:`FAMILY_MODULES`, so a new kind is one member and one line here and one module there.
"""

from __future__ import annotations

import enum


class ModelKind(enum.StrEnum):
    """A manifest entry's ``kind``; its value is what the JSON holds."""

    PERSISTENCE = "persistence"
    TREND_LINE = "trend_line"
    LINREG = "linreg"
    LINREG_Q15 = "linreg_q15"
    TFLITE = "tflite"
    SERIES_LINEAR = "series_linear"

    @property
    def family_module(self) -> str:
        """The module of :mod:`device.models.families` that owns this kind."""
        return FAMILY_MODULES[self]


#: kind -> the module of device.models.families owning it
FAMILY_MODULES: dict[ModelKind, str] = {
    ModelKind.PERSISTENCE: "baselines",
    ModelKind.TREND_LINE: "baselines",
    ModelKind.LINREG: "linreg",
    ModelKind.LINREG_Q15: "linreg",
    ModelKind.TFLITE: "tflite",
    ModelKind.SERIES_LINEAR: "series",
}
