"""Planning a model reload: what the agent will run once it re-read its assets, built before anything changes.

A reload is all or nothing. The new manifest is read and every file it lists is verified before a single predictor
is built, so a bad manifest, a missing file or a tampered one refuses the whole reload (an exception: the running
models are untouched and keep serving). Each model is then classified against what runs now: an unchanged one (same
entry, same file hash) keeps its :class:`~device.models.load.LoadedModel` object, so its interpreter is not rebuilt and
the forecaster keeps its windows and scores; changed and added ones are built through
:func:`device.models.load.build_model`, the start's own path; the others are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.models.entry import ModelEntry
from device.models.load import EntryFilter, LoadedModel, build_model, chosen_entries
from device.models.manifest import MANIFEST_NAME, Manifest, load_manifest, verify_assets


@dataclass(frozen=True)
class ReloadPlan:
    """The models to run after the reload (in the configured, else the manifest's, order) and what changed."""

    models: list[LoadedModel]
    added: list[str]
    changed: list[str]
    dropped: list[str]
    unchanged: list[str]

    def summary(self) -> str:
        def names(found: list[str]) -> str:
            return ", ".join(found) or "none"

        return (
            f"added {names(self.added)}; changed {names(self.changed)}; dropped {names(self.dropped)}; "
            f"{len(self.unchanged)} unchanged"
        )


def _unchanged(running: LoadedModel, entry: ModelEntry, manifest: Manifest) -> bool:
    return running.entry.to_dict() == entry.to_dict() and running.file_sha256 == manifest.sha256(entry.file)


def plan_reload(
    current: list[LoadedModel],
    directory: Path,
    names: tuple[str, ...],
    runtime: str = "auto",
    num_threads: int = 1,
    usable: EntryFilter = list,
) -> ReloadPlan:
    """Re-read ``directory``'s manifest for ``names`` (none: every model it lists), narrowed by ``usable`` as at
    start. Raises AssetIntegrityError (a bad manifest, a missing, unlisted or tampered file), KeyError (a chosen
    name the manifest no longer has) or ValueError (nothing left to run, a model that cannot run here), and
    whatever a family raises building a predictor; ``current`` is never modified."""
    directory = Path(directory)
    manifest = load_manifest(directory)
    verify_assets(directory, manifest)
    entries = usable(chosen_entries(directory, manifest, names))
    if not entries:
        raise ValueError(f"{directory / MANIFEST_NAME} leaves no model to run")
    running = {m.name: m for m in current}
    models: list[LoadedModel] = []
    added: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    for entry in entries:
        old = running.get(entry.name)
        if old is not None and _unchanged(old, entry, manifest):
            unchanged.append(entry.name)
            models.append(old)
            continue
        (changed if old is not None else added).append(entry.name)
        models.append(build_model(directory, manifest, entry, runtime, num_threads))
    kept = {e.name for e in entries}
    return ReloadPlan(models, added, changed, [name for name in running if name not in kept], unchanged)
