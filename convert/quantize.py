"""``python -m convert.quantize``: trained models -> ``firmware_assets/`` (TFLite, C arrays, linreg, manifest).

:func:`quantize` is the API; the CLI only fills a :class:`~convert.config.QuantizeConfig`. It converts what
``python -m train`` handed over and never trains.
"""

from __future__ import annotations

import logging
import os
from importlib import metadata
from pathlib import Path

from tqdm import tqdm

from convert import readme
from convert.c_runtime import MODELS as C_RUNTIME_MODELS
from convert.c_runtime import write_c_runtime_assets
from convert.config import NETWORKS, QuantizeConfig, twin_name
from convert.linreg_assets import write_linreg
from convert.mcu import ship_mcu_model
from convert.networks import Shipped, convert_big, convert_seed
from convert.tflite_convert import MODES
from convert.trained import TrainingRun, training_run
from device.models.entry import ModelEntry
from device.models.families import family
from device.models.kinds import ModelKind
from device.models.manifest import (
    MANIFEST_NAME,
    Manifest,
    describe_files,
    load_manifest,
    sha256_of,
    verify_file,
    write_manifest,
)
from device.options import build_parser as build_options_parser
from device.options import parse_options
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
        family(ModelKind.PERSISTENCE).entry(
            name="persistence",
            window=spec,
            scaling=linreg.scaling,
            notes="the last reading; the baseline every model must beat",
        ),
        family(ModelKind.TREND_LINE).entry(
            name="trend_line",
            window=spec,
            scaling=linreg.scaling,
            k=trend_k,
            notes=f"least-squares line through the last {trend_k} readings, extrapolated to the horizon",
        ),
    ]


class WouldDropModels(RuntimeError):
    """Regenerating the asset folder would delete models of its manifest that this run does not write again."""


class WouldReplaceModel(RuntimeError):
    """``--mcu-name`` names a model that ``--mcu-model`` did not ship (re-adding one of its own replaces it)."""


#: The models every regeneration writes.
BASE_MODELS = frozenset({"linreg", "linreg_q15", "persistence", "trend_line"})


def _network_names(network: str, modes: tuple[str, ...]) -> set[str]:
    """What a network ships as: the seed LSTM in int8 and float32, a big one under one of ``modes``."""
    return {"lstm_int8", "lstm_float32"} if network == "seed_lstm" else {f"{network}_{mode}" for mode in modes}


def planned_models(config: QuantizeConfig, run: TrainingRun) -> set[str]:
    """Every manifest name a full regeneration from ``run`` may write (a big network ships under one of its modes)."""
    names = set(BASE_MODELS)
    for network in (n for n in config.networks if n in run.available):
        names |= _network_names(network, config.big_model_modes)
    if config.mcu_model is not None:
        names |= {config.mcu_name, twin_name(config.mcu_name)}
    return names


def refuse_replacing_models(config: QuantizeConfig, out: Path) -> None:
    """Raise :class:`WouldReplaceModel` if ``--mcu-name`` or its twin's name is taken by a model a regeneration
    writes, or (with ``--add``) by one of ``out``'s manifest that ``--mcu-model`` did not ship."""
    taken = set(BASE_MODELS).union(*(_network_names(n, MODES) for n in NETWORKS))
    if config.add:
        taken |= {n for n, e in load_manifest(out).models.items() if "hand_over" not in e.metrics.get("source", {})}
    clash = sorted({config.mcu_name, twin_name(config.mcu_name)} & taken)
    if clash:
        raise WouldReplaceModel(
            f"--mcu-name {config.mcu_name} would replace {', '.join(clash)}, which --mcu-model did "
            "not ship: choose another name"
        )


def refuse_dropping_models(config: QuantizeConfig, out: Path, run: TrainingRun) -> None:
    """Raise :class:`WouldDropModels` naming the models of ``out``'s manifest a regeneration would lose, unless
    ``config.force``: a committed folder may hold models trained elsewhere (e.g. the MCU search's)."""
    if config.force or not (out / MANIFEST_NAME).is_file():
        return
    lost = sorted(set(load_manifest(out).models) - planned_models(config, run))
    if lost:
        raise WouldDropModels(
            f"{out.resolve()}/{MANIFEST_NAME} lists {', '.join(lost)}, which converting {run.run_dir} would not "
            f"write again: they would be deleted. Pass --force to regenerate anyway, --out <another folder> to keep "
            "them, or --mcu-model ... --add to add one model to the folder."
        )


def _regenerate_all(config: QuantizeConfig, out: Path) -> tuple[Shipped, dict]:
    """linreg, the fileless baselines and every network the run handed over, after removing what the previous
    manifest listed (refused if that would lose models, see :func:`refuse_dropping_models`); returns them with the
    manifest's ``source``."""
    run = training_run(config.run_dir)
    refuse_dropping_models(config, out, run)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous(out)
    networks = [n for n in config.networks if n in run.available]
    skipped = sorted(set(config.networks) - set(networks))
    if skipped:
        log.info("not in %s, not converted: %s", run.models_dir, skipped)

    entries, files = write_linreg(load_trained_model(run.models_dir, "linreg"), out)
    entries += _baselines(entries[0], config.trend_k)
    shipped = Shipped(entries=entries, files=files)
    for name in tqdm(networks, desc="converting", unit="model", disable=None):
        trained = load_trained_model(run.models_dir, name)
        result = (
            convert_seed(trained, out, config.tflm)
            if name == "seed_lstm"
            else convert_big(trained, out, config.big_model_modes, config.tflm)
        )
        shipped.entries += result.entries
        shipped.files += result.files
        shipped.attempts += result.attempts
    source = {
        "data": run.data.name,
        "data_sha256": sha256_of(run.data),
        "run_dir": str(config.run_dir),
        "seed": run.seed,
    }
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
    if config.mcu_model is not None:
        refuse_replacing_models(config, out)
    if config.add:
        kept, shipped = _verified_manifest(out), Shipped()
        source = kept.extra.get("source", {})
    else:
        kept = Manifest(models={})
        shipped, source = _regenerate_all(config, out)
    if config.mcu_model is not None:
        mcu = ship_mcu_model(Path(config.mcu_model), out, config.tflm, config.mcu_name)
        for entry in mcu.entries:
            entry.metrics["source"]["versions"] = _versions()
        shipped.entries += mcu.entries
        shipped.files += mcu.files
        shipped.attempts += mcu.attempts
    shipped.files += write_c_runtime_assets(out, tuple(dict.fromkeys((*C_RUNTIME_MODELS, config.mcu_name))))

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


DESCRIPTION = """Convert the models `python -m train` handed over (--run-dir) into what a Raspberry Pi and a
microcontroller firmware use: the seed LSTM as full-int8 and float32 TFLite (fused UNIDIRECTIONAL_SEQUENCE_LSTM),
checked against float on the held-out windows and proven under TensorFlow Lite for Microcontrollers (smallest arena by
bisection); the linear regression as JSON (float and Q15) and C; the bigger networks as far as the converter allows;
C arrays of every .tflite; and manifest.json with sizes, sha256, MACs, arena and fidelity. Never trains: run
`python -m train --models linreg seed_lstm` (or `make train`) first. Refuses to regenerate a folder whose manifest
lists models this run would not write again, unless --force. --mcu-model adds the microcontroller search's winner
or a model retrained on a house's recording (`python -m train --data RECORDING`), --add merges only it into the
existing assets, and --mcu-name ships it beside the shipped one (e.g. mcu_lstm_house)."""


def build_parser():
    return build_options_parser(QuantizeConfig, "python -m convert.quantize", DESCRIPTION)


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    config = parse_options(QuantizeConfig, argv, parser)
    try:
        manifest = quantize(config)
    except (WouldDropModels, WouldReplaceModel, FileNotFoundError) as error:
        parser.exit(1, f"{parser.prog}: error: {error}\n")
    print(readme.size_table(manifest))
    print(f"\nWrote {len(manifest.files)} files and {MANIFEST_NAME} to {config.out}")


if __name__ == "__main__":
    main()
