"""The asset manifest: what every file in ``firmware_assets/`` is, what it costs, and its sha256.

The converter writes it and the device reads it; the device refuses any file whose hash differs, because a
silently corrupted model gives silently wrong forecasts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.atomic import write_atomic
from device.models.entry import ModelEntry
from device.models.families import entry_from_dict

MANIFEST_NAME = "manifest.json"
#: 2: the trend line's kind is ``trend_line`` (format 1 called it ``trend``).
FORMAT_VERSION = 2
_KINDS_RENAMED_SINCE_1 = {"trend": "trend_line"}
#: The folder the ``device`` package sits in (the repository, on a Pi a copy of it).
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
#: Where every command reads and writes the assets unless told otherwise (relative: see :func:`locate_assets`).
DEFAULT_ASSETS = Path("firmware_assets")
#: The assets this checkout ships, whatever the working directory.
SHIPPED_ASSETS = PACKAGE_ROOT / DEFAULT_ASSETS
log = logging.getLogger(__name__)


class AssetIntegrityError(RuntimeError):
    """An asset is missing or its sha256 differs from the manifest."""


@dataclass
class Manifest:
    """The whole ``manifest.json``: files with their hashes, models, and the tool versions that made them."""

    models: dict[str, ModelEntry]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "models": {name: m.to_dict() for name, m in self.models.items()},
            "files": self.files,
            "versions": self.versions,
            **self.extra,
        }

    def sha256(self, file: str | None) -> str | None:
        """The hash the manifest lists for ``file`` (None for a fileless model)."""
        return None if file is None else self.files[file]["sha256"]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        """Decode a manifest of this format or an older one (upgraded on the way in, the files untouched)."""
        known = {"format_version", "models", "files", "versions"}
        d = upgrade(d)
        return cls(
            models={name: entry_from_dict(m) for name, m in d["models"].items()},
            files=dict(d.get("files", {})),
            versions=dict(d.get("versions", {})),
            extra={k: v for k, v in d.items() if k not in known},
        )


def upgrade(d: dict[str, Any]) -> dict[str, Any]:
    """A manifest document in this :data:`FORMAT_VERSION`: renames the kinds an older format spelled otherwise."""
    version = int(d.get("format_version", 1))
    if version > FORMAT_VERSION:
        raise ValueError(f"format_version {version} is newer than this agent's {FORMAT_VERSION}")
    if version == FORMAT_VERSION:
        return d
    models = {name: {**m, "kind": _KINDS_RENAMED_SINCE_1.get(m["kind"], m["kind"])} for name, m in d["models"].items()}
    return {**d, "format_version": FORMAT_VERSION, "models": models}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def describe_files(directory: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Name, size and sha256 of each file, for the manifest's ``files`` section."""
    directory = Path(directory)
    return {n: {"bytes": (directory / n).stat().st_size, "sha256": sha256_of(directory / n)} for n in sorted(names)}


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically: an agent watching it (or reloading on SIGHUP) never reads half of one."""
    path = Path(directory) / MANIFEST_NAME
    write_atomic(path, (json.dumps(manifest.to_dict(), indent=2, sort_keys=False) + "\n").encode(), durable=True)
    return path


def verify_file(directory: Path, manifest: Manifest, name: str) -> Path:
    """Return the path of ``name`` if its sha256 matches the manifest, else raise :class:`AssetIntegrityError`."""
    path = Path(directory) / name
    expected = manifest.files.get(name, {}).get("sha256")
    if expected is None:
        raise AssetIntegrityError(f"{name}: not listed in {MANIFEST_NAME}; refusing to load an unlisted file")
    if not path.is_file():
        raise AssetIntegrityError(f"{name}: listed in {MANIFEST_NAME} but missing from {directory}")
    actual = sha256_of(path)
    if actual != expected:
        raise AssetIntegrityError(f"{name}: sha256 mismatch: manifest says {expected}, file has {actual}")
    return path


def verify_assets(directory: Path, manifest: Manifest) -> None:
    """Check every file the manifest lists, and that every model's file is listed, before anything is built: raises
    :class:`AssetIntegrityError` naming the first file that is missing, unlisted or differs."""
    for name in manifest.files:
        verify_file(directory, manifest, name)
    for entry in manifest.models.values():
        if entry.file is not None and entry.file not in manifest.files:
            raise AssetIntegrityError(f"model {entry.name!r}: its file {entry.file} is not listed in {MANIFEST_NAME}")


def locate_assets(directory: Path) -> Path:
    """``directory`` made absolute. A relative folder without a manifest in the working directory is looked for next
    to the ``device`` package, so ``python ~/wattcast/device/agent.py`` started elsewhere finds the shipped
    ``firmware_assets``; that fallback is logged."""
    directory = Path(directory)
    here = directory.resolve()
    if directory.is_absolute() or (here / MANIFEST_NAME).is_file():
        return here
    beside = PACKAGE_ROOT / directory
    if (beside / MANIFEST_NAME).is_file():
        log.info("no %s in %s: using %s, next to the device package", MANIFEST_NAME, here, beside)
        return beside
    return here


def load_manifest(directory: Path) -> Manifest:
    """Read ``manifest.json`` from ``directory``; raises :class:`AssetIntegrityError` if it is missing or not JSON."""
    path = Path(directory) / MANIFEST_NAME
    try:
        return Manifest.from_dict(json.loads(path.read_text()))
    except FileNotFoundError as exc:
        raise AssetIntegrityError(
            f"no {MANIFEST_NAME} in {path.parent.resolve()}: point --assets at the folder that holds it (the "
            "repository ships one in firmware_assets/), or train and convert into a new folder: python -m train --out "
            "RUN && python -m convert.quantize --run-dir RUN --out DIR"
        ) from exc
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise AssetIntegrityError(f"{path} is not a valid manifest: {exc}") from exc
