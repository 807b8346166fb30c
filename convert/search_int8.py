"""``python -m convert.search_int8``: fill the int8 columns of a microcontroller search's table.

Every LSTM candidate ``python -m train.search`` handed over is converted to full int8 exactly as it would ship
(:func:`convert.mcu.convert_candidate`), its smallest TFLM arena found, and its int8 error measured on every test
window; then ``results.json``, ``table.md`` and both plots are rewritten with the winner marked
(:func:`train.search_report.pick_winner`: the admissible LSTM with the lowest int8 MSE).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from convert.mcu import WindowCache, convert_candidate
from train.artifacts import load_trained_model
from train.search_report import SearchRow

log = logging.getLogger(__name__)


def fill_int8(row: SearchRow, models_dir: Path, out: Path, cache: WindowCache, tflm: bool) -> SearchRow:
    """``row`` with int8 bytes, arena and full-test int8 MSE/MAE of its candidate (files written to ``out``)."""
    shipped = convert_candidate(load_trained_model(models_dir, row.name), out, f"{row.name}_int8", cache, tflm)
    entry = shipped.entries[-1]
    int8 = entry.metrics["full_test"]["int8"]
    return replace(row, int8_mse=int8["mse"], int8_mae=int8["mae"], int8_bytes=(out / entry.file).stat().st_size,
                   arena_bytes=entry.arena_bytes)


def fill_search(search_dir: Path, tflm: bool = True, redo: bool = False) -> list[SearchRow]:
    """Convert every handed-over LSTM row of ``search_dir/results.json`` that has no int8 figures yet (all of them
    with ``redo``) and rewrite the search's outputs."""
    from train.search import write_outputs

    search_dir = Path(search_dir)
    results = json.loads((search_dir / "results.json").read_text())
    models_dir, out = search_dir / "models", search_dir / "int8"
    out.mkdir(exist_ok=True)
    cache = WindowCache.for_models_dir(models_dir)
    rows = [SearchRow(**r) for r in results["rows"]]
    todo = [r for r in rows if r.kind == "lstm" and (models_dir / f"{r.name}.json").is_file()
            and (redo or r.int8_mse is None)]
    filled = {r.name: fill_int8(r, models_dir, out, cache, tflm) for r in tqdm(todo, desc="int8", unit="model", disable=None)}
    rows = [filled.get(r.name, r) for r in rows]
    winner = write_outputs(rows, replace(cache.search_config, out_dir=search_dir))
    log.info("winner: %s", winner.name if winner else "none admissible")
    return rows


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    p = argparse.ArgumentParser(prog="python -m convert.search_int8", description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--search-dir", type=Path, default=Path("runs/search"),
                   help="a python -m train.search --out-dir (results.json and models/); the int8 files go to int8/")
    p.add_argument("--no-tflm", dest="tflm", action="store_false",
                   help="skip the TFLM arena bisection (the arena column then stays empty and no winner is picked)")
    p.add_argument("--redo", action="store_true",
                   help="convert every candidate again, also those whose int8 columns are already filled")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="Python logging level")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    fill_search(args.search_dir, args.tflm, args.redo)
    print((args.search_dir / "table.md").read_text())


if __name__ == "__main__":
    main()
