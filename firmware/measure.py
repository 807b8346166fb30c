"""``python -m firmware.measure``: instructions per inference (median over held-out windows), flash and RAM of the C
runtime on the emulated Cortex-M4F, per firmware model; ``--write-manifest`` records them under each model's
``m4`` key in ``firmware_assets/manifest.json`` (the C files hashed in ``files``) and re-renders its README."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert import readme
from convert.c_runtime import MODELS as C_RUNTIME_MODELS
from device.models.entry import M4Measurement
from device.models.manifest import describe_files, load_manifest, write_manifest
from device.options import build_parser, option, parse_options
from firmware.heldout import ASSETS, MODELS, held_out_windows
from firmware.run import run_model

log = logging.getLogger(__name__)
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"
DEFAULT_WINDOWS = 64
#: linreg_q15 takes ~5 SysTick steps: 64 runs per window make its count exact to about one instruction.
REPEAT = {"linreg_q15": 64}


def measure(model: str, data: Path, windows: int) -> M4Measurement:
    """The ``m4`` record of one model: median instructions (and range) over held-out windows, flash, RAM."""
    result = run_model(model, held_out_windows(model, data, windows).x_q, repeat=REPEAT.get(model, 1))
    instructions = np.asarray(result["instructions"])
    return M4Measurement(
        instructions=int(np.median(instructions)),
        instructions_range=(int(instructions.min()), int(instructions.max())),
        windows=len(instructions),
        flash_bytes=result["flash_bytes"],
        ram_bytes=result["ram_bytes"],
        stack_bytes=result["stack_bytes"],
        build=result["build"],
        measured_on=result["measured_on"],
    )


def c_runtime_files(assets: Path) -> list[str]:
    """The generated C the manifest lists with hashes (what convert.c_runtime writes)."""
    names = [f"{m}_wc.{ext}" for m in C_RUNTIME_MODELS for ext in ("c", "h")]
    return [n for n in names if (assets / n).is_file()]


def write_to_manifest(records: dict[str, M4Measurement], assets: Path = ASSETS) -> None:
    """``m4`` per model into the manifest, the C runtime's files re-hashed, the README re-rendered."""
    manifest = load_manifest(assets)
    for name, record in records.items():
        manifest.models[name] = dataclasses.replace(manifest.models[name], m4=record)
    manifest.files.update(describe_files(assets, c_runtime_files(assets)))
    write_manifest(assets, manifest)
    (assets / readme.README_NAME).write_text(readme.render(manifest))
    log.info("wrote m4 figures of %s into %s", ", ".join(records), assets / "manifest.json")


@dataclass(frozen=True)
class MeasureConfig:
    models: tuple[str, ...] = option(MODELS, "models to measure", choices=MODELS)
    data: Path = option(DEFAULT_DATA, "data file whose held-out windows are run", exists=True)
    windows: int = option(DEFAULT_WINDOWS, "held-out windows per model")
    assets: Path = option(ASSETS, "firmware_assets directory (its manifest)")
    write_manifest: bool = option(False, "record the figures in the manifest")


def main(argv: list[str] | None = None) -> None:
    config = parse_options(MeasureConfig, argv, build_parser(MeasureConfig, "python -m firmware.measure", __doc__))
    records = {m: measure(m, config.data, config.windows) for m in config.models}
    if config.write_manifest:
        write_to_manifest(records, config.assets)
    print(json.dumps({m: r.to_dict() for m, r in records.items()}, indent=2))


if __name__ == "__main__":
    main()
