"""The model kinds a manifest may name.

Each member names the module of :mod:`device.families` that owns the kind (its manifest entry, its loader and its
predictor), so a new kind is one member here and one module there.
"""

from __future__ import annotations

import enum


class ModelKind(enum.StrEnum):
    """A manifest entry's ``kind``; its value is what the JSON holds."""

    family_module: str

    def __new__(cls, value: str, family_module: str) -> ModelKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.family_module = family_module
        return member

    PERSISTENCE = "persistence", "baselines"
    TREND_LINE = "trend_line", "baselines"
    LINREG = "linreg", "linreg"
    LINREG_Q15 = "linreg_q15", "linreg"
    TFLITE = "tflite", "tflite"
    SERIES_LINEAR = "series_linear", "series"
