"""Files the agent leaves for the report: the metrics snapshot (JSON) and every prediction (CSV)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from device.atomic import write_atomic
from device.forecasting.forecaster import Prediction
from device.readings import format_minute

PREDICTION_COLUMNS = ("meter", "model", "ts", "target_ts", "predicted", "actual")


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """The metrics snapshot, atomically (not synced: the next snapshot follows within seconds)."""
    write_atomic(path, (json.dumps(data, indent=1, allow_nan=False) + "\n").encode())


class PredictionLog:
    """One CSV row per prediction once its fate is known: scored (``actual`` set), or unscored (empty)."""

    def __init__(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", newline="", buffering=1 << 16)  # noqa: SIM115 (closed in close())
        self._writer = csv.writer(self._file)
        self._writer.writerow(PREDICTION_COLUMNS)

    def write(self, p: Prediction) -> None:
        actual = "" if p.actual_kw is None else f"{p.actual_kw:.6g}"
        self._writer.writerow(
            (p.meter, p.model, format_minute(p.minute), format_minute(p.target_minute), f"{p.predicted_kw:.6g}", actual)
        )

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
