"""Ship a series model: its coefficient JSON (a linear model needs no int8) and its manifest entry, into an assets
folder of its own (``firmware_assets/series/`` by default), loadable by :func:`device.models.load.load_models`.

The series models live beside the point models, not in their manifest: the demo and the report run every model of
``firmware_assets/manifest.json`` and expect one number per window; the agent runs this folder's models as series.
The next hour (``train.series``) and the next day (``train.day_ahead``) are shipped by the same command:
``--model runs/series/series_next_day.json``.

Run ``python -m convert.series --help``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from device.models.families import family
from device.models.families.series import read_document
from device.models.kinds import ModelKind
from device.models.manifest import (
    MANIFEST_NAME,
    SHIPPED_ASSETS,
    Manifest,
    describe_files,
    load_manifest,
    write_manifest,
)
from device.options import build_parser as build_options_parser
from device.options import option, parse_options

log = logging.getLogger(__name__)
SERIES_ASSETS = SHIPPED_ASSETS / "series"


@dataclass(frozen=True)
class ShipSeriesConfig:
    """Which model file to ship, and where."""

    model: Path = option(Path("runs/series/series_next_hour.json"), "the model train.series wrote", exists=True)
    out: Path = option(SERIES_ASSETS, "the assets folder (its manifest.json is created or updated)")


def ship_series(model: Path, out: Path) -> Manifest:
    """Copy ``model`` into ``out`` and add (or replace) its entry in ``out/manifest.json``; returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    document = read_document(model)
    file = f"{document.name}.json"
    if Path(model).resolve() != (out / file).resolve():
        shutil.copyfile(model, out / file)
    manifest = load_manifest(out) if (out / MANIFEST_NAME).is_file() else Manifest({})
    manifest.models[document.name] = family(ModelKind.SERIES_LINEAR).entry(
        name=document.name,
        **document.entry_fields(file),
        metrics={"test": document.metrics.get("test", {}), "windows": document.metrics.get("windows", {})},
        notes="linear quantile model on device.contract.series_inputs, intervals calibrated on the training tail; "
        "predicts (steps, quantiles) per window",
    )
    manifest.files = describe_files(out, sorted({e.file for e in manifest.models.values() if e.file}))
    write_manifest(out, manifest)
    log.info("shipped %s into %s", document.name, out)
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser: argparse.ArgumentParser = build_options_parser(
        ShipSeriesConfig, "python -m convert.series", __doc__.split("\n\n")[0]
    )
    config = parse_options(ShipSeriesConfig, argv, parser)
    ship_series(config.model, config.out)


if __name__ == "__main__":
    main()
