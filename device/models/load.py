"""Loading the models a manifest lists, after checking every file's sha256.

:func:`build_model` is the one way a manifest entry becomes a ready predictor with what it costs (file bytes,
tensor bytes, MACs): :func:`load_models` (the agent's start, the benchmark) and :mod:`device.reload` both go through
it, so every caller runs exactly the same objects. Loading goes one way: the manifest gives the entry, the entry's
family (:mod:`device.families`) builds its predictor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.contract import MinMaxScaling
from device.models.entry import ModelEntry
from device.models.families import Predictor, family
from device.models.manifest import Manifest, load_manifest, locate_assets, verify_file

log = logging.getLogger(__name__)
#: Narrows the chosen entries to those that can run here (the agent's source intake refuses or leaves out models
#: its meters cannot feed); raises ValueError to refuse the whole set.
EntryFilter = Callable[[list[ModelEntry]], list[ModelEntry]]


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
    file_sha256: str | None = None  # of the file it was built from: a reload compares it to the new manifest's
    runtime_note: str | None = None  # why ``auto`` did not give it the runtime it prefers (the metrics show it)

    @property
    def needed_measurements(self) -> tuple[str, ...]:
        return self.entry.needed_measurements


def _identity_scaling(entry: ModelEntry) -> MinMaxScaling:
    """Fileless baselines may come without scaling: they then work in kW directly."""
    n = entry.window.n_features
    return MinMaxScaling((0.0,) * n, (1.0,) * n, 0.0, 1.0)


def chosen_entries(directory: Path, manifest: Manifest, names: tuple[str, ...]) -> list[ModelEntry]:
    """The entries of ``names`` (none: every model of the manifest), in that order; raises KeyError for a name the
    manifest lacks and ValueError for an entry whose kind needs a file and names none."""
    names = names or tuple(manifest.models)
    missing = [n for n in names if n not in manifest.models]
    if missing:
        raise KeyError(f"models {missing} are not in {directory}/manifest.json (it has {sorted(manifest.models)})")
    entries = [manifest.models[name] for name in names]
    for entry in entries:
        if family(entry.kind).needs_file and entry.file is None:
            raise ValueError(f"model {entry.name!r} of kind {entry.kind} names no file")
    return entries


def build_model(
    directory: Path, manifest: Manifest, entry: ModelEntry, runtime: str = "auto", num_threads: int = 1
) -> LoadedModel:
    """Build one entry's predictor; its file is verified right before it is opened (AssetIntegrityError)."""
    path = verify_file(directory, manifest, entry.file) if entry.file else None
    built = family(entry.kind).build(entry, path, runtime, num_threads)
    flash = int(manifest.files[entry.file]["bytes"]) if entry.file else 0
    arena = entry.arena_bytes if entry.arena_bytes is not None else built.tensor_bytes
    log.info("loaded %s (%s, %s, %d file bytes)", entry.name, entry.kind, built.runtime, flash)
    return LoadedModel(
        entry.name,
        entry,
        built.predictor,
        entry.scaling or _identity_scaling(entry),
        flash,
        arena,
        built.runtime,
        manifest.sha256(entry.file),
        built.runtime_note,
    )


def load_models(
    directory: Path, names: tuple[str, ...], runtime: str = "auto", num_threads: int = 1, usable: EntryFilter = list
) -> list[LoadedModel]:
    """Load ``names`` (none: every model) from ``directory/manifest.json`` (see :func:`locate_assets` for a relative
    ``directory``), keeping those ``usable`` keeps; raises AssetIntegrityError on any hash mismatch."""
    directory = locate_assets(directory)
    manifest = load_manifest(directory)
    return [
        build_model(directory, manifest, entry, runtime, num_threads)
        for entry in usable(chosen_entries(directory, manifest, names))
    ]
