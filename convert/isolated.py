"""Run a step that can kill its process (converter, calibrator, TFLM with a too-small arena) in a child process.

Some of these failures are segfaults or ``abort()`` inside C++, not Python exceptions: in-process they would take
the whole command down with no message. A fresh ``spawn`` child per call also keeps TensorFlow's global state from
leaking between conversions, which keeps the bytes reproducible.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

T = TypeVar("T")


class ChildCrashed(RuntimeError):
    """The child process died without returning (a segfault or abort in native code)."""


def run_isolated(what: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)`` in a fresh process; Python exceptions propagate, a crash becomes :class:`ChildCrashed`.

    ``fn`` must be a module-level function (it is pickled by name).
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(fn, *args, **kwargs).result()
        except BrokenProcessPool as exc:
            raise ChildCrashed(
                f"{what}: the process crashed in native code (segfault or abort) and returned nothing"
            ) from exc
