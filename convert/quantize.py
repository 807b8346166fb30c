"""``python -m convert.quantize``: trained models -> ``firmware_assets/`` (TFLite, C arrays, linreg, manifest).

:func:`quantize` is the API; the CLI only fills a :class:`~convert.config.QuantizeConfig`.
"""

from __future__ import annotations

import argparse
import logging
import os
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from convert import readme
from convert.c_runtime import write_c_runtime_assets
from convert.config import NETWORKS, TRAIN_CHOICES, QuantizeConfig
from convert.linreg_assets import write_linreg
from convert.mcu import ship_mcu_model
from convert.networks import Shipped, convert_big, convert_seed
from convert.tflite_convert import MODES
from convert.trained import ensure_trained
from device.entry import ModelEntry
from device.families import family
from device.kinds import ModelKind
from device.manifest import (
    MANIFEST_NAME,
    Manifest,
    describe_files,
    load_manifest,
    sha256_of,
    verify_file,
    write_manifest,
)
from train.artifacts import load_trained_model

log = logging.getLogger(__name__)
#: Distributions whose versions made the files (the manifest records them).
TOOLS = ("tensorflow-cpu", "keras", "ai-edge-litert", "tflite-micro", "numpy")


def _versions() -> dict[str, str]:
    found = {}
    for name in TOOLS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def _remove_previous(out: Path) -> None:
    """Delete what the previous manifest listed, so a renamed or dropped model leaves no stale file."""
    if (out / MANIFEST_NAME).is_file():
        for name in load_manifest(out).files:
            (out / name).unlink(missing_ok=True)


def _baselines(linreg: ModelEntry, trend_k: int) -> list[ModelEntry]:
    """Persistence and the trend line need no file; they share linreg's window and scaling (kW in, kW out)."""
    spec = linreg.window
    return [
        family(ModelKind.PERSISTENCE).entry(name="persistence", window=spec, scaling=linreg.scaling,
                                            notes="the last reading; the baseline every model must beat"),
        family(ModelKind.TREND_LINE).entry(name="trend_line", window=spec, scaling=linreg.scaling, k=trend_k,
                                           notes=f"least-squares line through the last {trend_k} readings, "
                                                 "extrapolated to the horizon"),
    ]


def _regenerate_all(config: QuantizeConfig, out: Path) -> tuple[Shipped, dict]:
    """Train if needed, then linreg, the fileless baselines and every available network, after removing what the
    previous manifest listed; returns them with the manifest's ``source``."""
    models_dir, available = ensure_trained(config)
    _remove_previous(out)
    networks = [n for n in config.networks if n in available]
    skipped = sorted(set(config.networks) - set(networks))
    if skipped:
        log.info("not in %s, not converted: %s", models_dir, skipped)

    entries, files = write_linreg(load_trained_model(models_dir, "linreg"), out)
    entries += _baselines(entries[0], config.trend_k)
    shipped = Shipped(entries=entries, files=files)
    for name in tqdm(networks, desc="converting", unit="model", disable=None):
        trained = load_trained_model(models_dir, name)
        result = (convert_seed(trained, out, config.tflm) if name == "seed_lstm"
                  else convert_big(trained, out, config.big_model_modes, config.tflm))
        shipped.entries += result.entries
        shipped.files += result.files
        shipped.attempts += result.attempts
    source = {"data": Path(config.data).name, "data_sha256": sha256_of(Path(config.data)),
              "run_dir": str(config.resolved_run_dir), "seed": config.seed}
    return shipped, source


def _verified_manifest(out: Path) -> Manifest:
    """The manifest an additive run extends; every file it lists must still match its sha256."""
    manifest = load_manifest(out)
    for name in manifest.files:
        verify_file(out, manifest, name)
    return manifest


def quantize(config: QuantizeConfig) -> Manifest:
    """Convert, prove and write the assets and ``manifest.json``: everything (training first if needed), or with
    ``config.add`` only the microcontroller model, merged into the existing manifest with every other entry and file
    kept byte for byte."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    if config.add:
        kept, shipped = _verified_manifest(out), Shipped()
        source = kept.extra.get("source", {})
    else:
        kept = Manifest(models={})
        shipped, source = _regenerate_all(config, out)
    if config.mcu_model is not None:
        mcu = ship_mcu_model(Path(config.mcu_model), out, config.tflm)
        for entry in mcu.entries:
            entry.metrics["source"]["versions"] = _versions()
        shipped.entries += mcu.entries
        shipped.files += mcu.files
        shipped.attempts += mcu.attempts
    shipped.files += write_c_runtime_assets(out)

    replaced = {a["model"] for a in shipped.attempts}
    earlier = [a for a in kept.extra.get("conversions", []) if a["model"] not in replaced]
    manifest = Manifest(
        models={**kept.models, **{e.name: e for e in shipped.entries}},
        files={**kept.files, **describe_files(out, shipped.files)},
        versions=kept.versions or _versions(),
        extra={**kept.extra, "source": source, "conversions": earlier + shipped.attempts},
    )
    write_manifest(out, manifest)
    (out / readme.README_NAME).write_text(readme.render(manifest))
    return manifest


DESCRIPTION = """Convert the trained models into what a Raspberry Pi and a microcontroller firmware use: the seed
LSTM as full-int8 and float32 TFLite (fused UNIDIRECTIONAL_SEQUENCE_LSTM), checked against float on the held-out
windows and proven under TensorFlow Lite for Microcontrollers (smallest arena by bisection); the linear regression
as JSON (float and Q15) and C; the bigger networks as far as the converter allows; C arrays of every .tflite; and
manifest.json with sizes, sha256, MACs, arena and fidelity. Trains the seed LSTM and the linear regression first
when the run folder has none for --data. --mcu-model adds the microcontroller search's winner (and --add merges
only it into the existing assets)."""


def build_parser() -> argparse.ArgumentParser:
    d = QuantizeConfig()
    p = argparse.ArgumentParser(prog="python -m convert.quantize", description=DESCRIPTION,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=d.data,
                   help="the UCI data the models were (or are to be) trained on: the raw .txt or the .zip")
    p.add_argument("--run-dir", type=Path, default=None,
                   help="training run folder holding models/ (python -m train --out); unset: runs/latest for the "
                        "bundled data, runs/<data file stem> for any other --data")
    p.add_argument("--out", type=Path, default=d.out, help="where the assets and manifest.json are written")
    p.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(d.networks),
                   help="networks to convert when the run folder has them (linreg and the baselines always ship)")
    p.add_argument("--big-model-modes", nargs="+", choices=MODES, default=list(d.big_model_modes),
                   help="quantization modes tried in order for the augmented LSTM and the CNN-BiLSTM; the first "
                        "that converts ships (int16x8 is refused by this converter for the fused LSTM)")
    p.add_argument("--train", choices=TRAIN_CHOICES, default=d.train,
                   help="auto: train the seed LSTM and linreg when the run folder lacks them or used other data; "
                        "always: retrain them; never: fail instead")
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum epochs when training here")
    p.add_argument("--seed", type=int, default=d.seed, help="training seed when training here")
    p.add_argument("--no-tflm", dest="tflm", action="store_false",
                   help="skip the TFLM proof and arena bisection (the manifest then has no arena_bytes)")
    p.add_argument("--trend-k", type=int, default=d.trend_k, help="readings the trend-line baseline fits")
    p.add_argument("--mcu-model", type=Path, default=d.mcu_model,
                   help="a microcontroller search candidate's hand-over, runs/search/models/<candidate> (python -m "
                        "train.search): shipped as mcu_lstm_int8 (full int8, proven on TFLM, int8 error on every test "
                        "window of the search's data) with the least squares on the same inputs as linreg_cal")
    p.add_argument("--add", action="store_true",
                   help="convert only --mcu-model and merge it into the existing manifest.json, keeping every other "
                        "model and file (their hashes are checked first); without it the folder is regenerated")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="Python logging level")
    return p


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = QuantizeConfig(
        data=args.data, run_dir=args.run_dir, out=args.out, networks=tuple(args.networks),
        big_model_modes=tuple(args.big_model_modes), train=args.train, epochs=args.epochs, seed=args.seed,
        tflm=args.tflm, trend_k=args.trend_k, mcu_model=args.mcu_model, add=args.add,
    )
    manifest = quantize(config)
    print(readme.size_table(manifest))
    print(f"\nWrote {len(manifest.files)} files and {MANIFEST_NAME} to {config.out}")


if __name__ == "__main__":
    main()
