"""``python -m firmware.measure``: instructions per inference (median over held-out windows), estimated cycles (the
executed instruction mix priced with the core's published timings, :mod:`firmware.cycles`), flash and RAM of the C
runtime per firmware model and target (``--targets all``: every core of :mod:`firmware.targets`; the default is the
Cortex-M4F). ``--write-manifest`` records them under each model's ``targets`` in ``firmware_assets/manifest.json``
(and the Cortex-M4F's also under ``m4``, which older readers take), the C files hashed in ``files``, and re-renders
its README."""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert import readme
from convert.c_runtime import MODELS as C_RUNTIME_MODELS
from device.models.entry import FirmwareMeasurement
from device.models.manifest import describe_files, load_manifest, write_manifest
from device.options import build_parser, option, parse_options
from firmware.cycles import SOURCES, instruction_mix
from firmware.heldout import ASSETS, MODELS, held_out_windows
from firmware.image import build
from firmware.run import run_model
from firmware.targets import DEFAULT_TARGET, TARGETS

log = logging.getLogger(__name__)
DEFAULT_DATA = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"
DEFAULT_WINDOWS = 64
#: linreg_q15 takes ~5 SysTick steps: 64 runs per window make its count exact to about one instruction.
REPEAT = {"linreg_q15": 64}
#: Windows whose executed instruction mix prices the cycles (the mix barely varies from window to window).
MIX_WINDOWS = 2
ALL_TARGETS = "all"


def measure(model: str, data: Path, windows: int, target: str = DEFAULT_TARGET) -> FirmwareMeasurement:
    """One model on one target: median instructions (and range) over held-out windows, the cycles their median
    costs at the mix's cycles per instruction, flash, RAM."""
    x_q = held_out_windows(model, data, windows).x_q
    result = run_model(model, x_q, repeat=REPEAT.get(model, 1), target=target)
    instructions = np.asarray(result["instructions"])
    median = int(np.median(instructions))
    mix = instruction_mix(build(model, target_name=target), x_q[:MIX_WINDOWS])
    return FirmwareMeasurement(
        instructions=median,
        instructions_range=(int(instructions.min()), int(instructions.max())),
        windows=len(instructions),
        flash_bytes=result["flash_bytes"],
        ram_bytes=result["ram_bytes"],
        stack_bytes=result["stack_bytes"],
        build=result["build"],
        measured_on=result["measured_on"],
        cycles=round(median * mix.cycles_per_instruction(target)),
        cycle_timings=SOURCES[target],
    )


def c_runtime_files(assets: Path) -> list[str]:
    """The generated C the manifest lists with hashes (what convert.c_runtime writes)."""
    names = [f"{m}_wc.{ext}" for m in C_RUNTIME_MODELS for ext in ("c", "h")]
    return [n for n in names if (assets / n).is_file()]


Records = dict[str, dict[str, FirmwareMeasurement]]  # model -> target -> figures


def write_to_manifest(records: Records, assets: Path = ASSETS) -> None:
    """Each model's figures per target into the manifest (added to the targets it already has; the Cortex-M4F's
    also as ``m4``), the C runtime's files re-hashed, the README re-rendered."""
    manifest = load_manifest(assets)
    for name, per_target in records.items():
        entry = manifest.models[name]
        m4 = per_target.get(DEFAULT_TARGET, entry.m4)
        manifest.models[name] = dataclasses.replace(entry, m4=m4, targets={**entry.targets, **per_target})
    manifest.files.update(describe_files(assets, c_runtime_files(assets)))
    write_manifest(assets, manifest)
    (assets / readme.README_NAME).write_text(readme.render(manifest))
    log.info("wrote the firmware figures of %s into %s", ", ".join(records), assets / "manifest.json")


def expand_targets(names: tuple[str, ...]) -> tuple[str, ...]:
    """``all`` stands for every target, in :data:`firmware.targets.TARGETS`' order."""
    return tuple(TARGETS) if ALL_TARGETS in names else tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class MeasureConfig:
    models: tuple[str, ...] = option(MODELS, "models to measure", choices=MODELS)
    data: Path = option(DEFAULT_DATA, "data file whose held-out windows are run", exists=True)
    windows: int = option(DEFAULT_WINDOWS, "held-out windows per model")
    assets: Path = option(ASSETS, "firmware_assets directory (its manifest)")
    targets: tuple[str, ...] = option(
        (DEFAULT_TARGET,), "cores to measure on ('all': every one)", choices=(*TARGETS, ALL_TARGETS)
    )
    write_manifest: bool = option(False, "record the figures in the manifest")


def main(argv: list[str] | None = None) -> None:
    config = parse_options(MeasureConfig, argv, build_parser(MeasureConfig, "python -m firmware.measure", __doc__))
    targets = expand_targets(config.targets)
    records = {m: {t: measure(m, config.data, config.windows, t) for t in targets} for m in config.models}
    if config.write_manifest:
        write_to_manifest(records, config.assets)
    print(json.dumps({m: {t: r.to_dict() for t, r in rs.items()} for m, rs in records.items()}, indent=2))


if __name__ == "__main__":
    main()
