"""Loading the models a manifest lists, after checking every file's sha256.

One entry point, :func:`load_models`, turns manifest names into ready predictors with what they cost (file bytes,
tensor bytes, MACs), so the agent and the benchmark run exactly the same objects. Loading goes one way: the manifest
gives the entry, the entry's family (:mod:`device.families`) builds its predictor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from device.contract import MEASUREMENTS, MinMaxScaling
from device.entry import ModelEntry
from device.families import Predictor, family
from device.manifest import load_manifest, locate_assets, verify_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A predictor with its manifest entry and its footprint on this device."""

    name: str
    entry: ModelEntry
    predictor: Predictor
    scaling: MinMaxScaling
    flash_bytes: int
    arena_bytes: int | None
    runtime: str

    @property
    def needed_measurements(self) -> tuple[str, ...]:
        return tuple(f for f in self.entry.window.features if f in MEASUREMENTS)


def _identity_scaling(entry: ModelEntry) -> MinMaxScaling:
    """Fileless baselines may come without scaling: they then work in kW directly."""
    n = entry.window.n_features
    return MinMaxScaling((0.0,) * n, (1.0,) * n, 0.0, 1.0)


def load_models(
    directory: Path, names: tuple[str, ...], runtime: str = "auto", num_threads: int = 1
) -> list[LoadedModel]:
    """Load ``names`` (none: every model) from ``directory/manifest.json`` (see :func:`locate_assets` for a relative
    ``directory``); raises AssetIntegrityError on any hash mismatch."""
    directory = locate_assets(directory)
    manifest = load_manifest(directory)
    names = names or tuple(manifest.models)
    missing = [n for n in names if n not in manifest.models]
    if missing:
        raise KeyError(f"models {missing} are not in {directory}/manifest.json (it has {sorted(manifest.models)})")
    loaded = []
    for name in names:
        entry = manifest.models[name]
        owner = family(entry.kind)
        if owner.needs_file and entry.file is None:
            raise ValueError(f"model {name!r} of kind {entry.kind} names no file")
        path = verify_file(directory, manifest, entry.file) if entry.file else None  # verified before it is opened
        built = owner.build(entry, path, runtime, num_threads)
        flash = int(manifest.files[entry.file]["bytes"]) if entry.file else 0
        arena = entry.arena_bytes if entry.arena_bytes is not None else built.tensor_bytes
        loaded.append(LoadedModel(name, entry, built.predictor, entry.scaling or _identity_scaling(entry), flash,
                                  arena, built.runtime))
        log.info("loaded %s (%s, %s, %d file bytes)", name, entry.kind, built.runtime, flash)
    return loaded
