"""The same C runtime built for this machine with the host's gcc and called through ctypes: the fast way to check it
against tflite-micro on many windows (the QEMU image runs the identical source, plus the M4's SIMD path)."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np

from firmware.image import ASSETS_DIR, FIRMWARE_DIR
from firmware.toolchain import find_tool

RUNTIME_SOURCES = (FIRMWARE_DIR / "runtime" / "wc_model.c", FIRMWARE_DIR / "runtime" / "wc_sigmoid_table.c")
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-shared", "-fPIC")


class HostRuntime:
    """``wc_predict`` for the given models (their ``<model>_wc.c`` in ``constants``), compiled into one shared library
    in ``directory``; ``defines`` such as ``WC_MAX_STATE=52`` raise the runtime's limits for bigger models."""

    def __init__(
        self, directory: Path, models: tuple[str, ...], constants: Path = ASSETS_DIR, defines: tuple[str, ...] = ()
    ):
        library = Path(directory) / "libwattcast_runtime.so"
        sources = [*RUNTIME_SOURCES, *(Path(constants) / f"{m}_wc.c" for m in models)]
        subprocess.run(
            [
                find_tool("gcc"),
                *CFLAGS,
                *(f"-D{d}" for d in defines),
                f"-I{FIRMWARE_DIR / 'runtime'}",
                f"-I{constants}",
                f"-I{ASSETS_DIR}",
                "-o",
                str(library),
                *map(str, sources),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        self._lib = ctypes.CDLL(str(library))
        self._lib.wc_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        self._lib.wc_predict.restype = ctypes.c_int

    def predict(self, model: str, windows: np.ndarray) -> np.ndarray:
        """The int8 output of every window (n, seq_len, features) int8."""
        handle = ctypes.c_void_p(ctypes.addressof(ctypes.c_char.in_dll(self._lib, f"wc_{model}")))
        out = ctypes.c_int8()
        results = []
        for window in np.ascontiguousarray(windows, dtype=np.int8):
            rc = self._lib.wc_predict(handle, window.ctypes.data_as(ctypes.c_void_p), ctypes.byref(out))
            if rc != 0:
                raise RuntimeError(f"wc_predict refused the {model} window (error {rc})")
            results.append(out.value)
        return np.array(results, dtype=np.int64)
