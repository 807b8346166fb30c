"""``python -m convert.search_int8``: fill the int8 columns of a microcontroller search's table.

Every LSTM candidate ``python -m train.search`` handed over is converted to full int8 exactly as it would ship
(:func:`convert.mcu.convert_candidate`), its smallest TFLM arena found, and its int8 error measured on every test
window; then ``results.json``, ``table.md`` and both plots are rewritten with the winner marked
(:func:`train.search_report.pick_winner`: the admissible LSTM with the lowest int8 MSE).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from convert.entry_fields import entry_file
from convert.mcu import WindowCache, convert_candidate
from device.options import build_parser, option, parse_options
from train.artifacts import load_trained_model
from train.search import config_of, write_outputs
from train.search_report import SearchRow

log = logging.getLogger(__name__)


def fill_int8(row: SearchRow, models_dir: Path, out: Path, cache: WindowCache, tflm: bool) -> SearchRow:
    """``row`` with int8 bytes, arena and full-test int8 MSE/MAE of its candidate (files written to ``out``)."""
    shipped = convert_candidate(load_trained_model(models_dir, row.name), out, f"{row.name}_int8", cache, tflm)
    entry = shipped.entries[-1]
    int8 = entry.metrics["full_test"]["int8"]
    return replace(
        row,
        int8_mse=int8["mse"],
        int8_mae=int8["mae"],
        int8_bytes=(out / entry_file(entry)).stat().st_size,
        arena_bytes=entry.arena_bytes,
    )


def fill_search(search_dir: Path, tflm: bool = True, redo: bool = False) -> list[SearchRow]:
    """Convert every handed-over LSTM row of ``search_dir/results.json`` that has no int8 figures yet (all of them
    with ``redo``) and rewrite the search's outputs."""
    search_dir = Path(search_dir)
    results = json.loads((search_dir / "results.json").read_text())
    models_dir, out = search_dir / "models", search_dir / "int8"
    out.mkdir(exist_ok=True)
    cache = WindowCache()
    rows = [SearchRow(**r) for r in results["rows"]]
    todo = [
        r
        for r in rows
        if r.kind == "lstm" and (models_dir / f"{r.name}.json").is_file() and (redo or r.int8_mse is None)
    ]
    filled = {
        r.name: fill_int8(r, models_dir, out, cache, tflm) for r in tqdm(todo, desc="int8", unit="model", disable=None)
    }
    rows = [filled.get(r.name, r) for r in rows]
    winner = write_outputs(rows, replace(config_of(results["config"]), out_dir=search_dir))
    log.info("winner: %s", winner.name if winner else "none admissible")
    return rows


@dataclass(frozen=True)
class SearchInt8Config:
    search_dir: Path = option(
        Path("runs/search"), "a python -m train.search --out-dir (results.json and models/); the int8 files go to int8/"
    )
    tflm: bool = option(
        True,
        "find each candidate's smallest TFLM arena by bisection; --no-tflm skips it (the "
        "arena column then stays empty and no winner is picked)",
    )
    redo: bool = option(False, "convert every candidate again, also those whose int8 columns are already filled")


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    config = parse_options(
        SearchInt8Config,
        argv,
        build_parser(SearchInt8Config, "python -m convert.search_int8", __doc__.split("\n\n")[1]),
    )
    fill_search(config.search_dir, config.tflm, config.redo)
    print((config.search_dir / "table.md").read_text())


if __name__ == "__main__":
    main()
