"""Train one Keras reference model reproducibly: seeded, deterministic ops, early stopping, best checkpoint kept.

Same data and seed give byte-identical weights (``keras.utils.set_random_seed`` plus TensorFlow's op determinism),
so a reported number can be reproduced and a converted model traced back to the exact weights it came from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from device.contract import WindowSpec
from train.models import BUILDERS

log = logging.getLogger(__name__)
# Predicting test and streaming windows of different lengths retraces the predict function; TF warns about that
# every time although it is expected here.
tf.get_logger().setLevel(logging.ERROR)


@dataclass(frozen=True)
class FitSettings:
    """The training loop's knobs (the notebook's: batch 500, up to 100 epochs, patience 10, 5% validation)."""

    learning_rate: float
    epochs: int = 100
    batch_size: int = 500
    patience: int = 10
    validation_split: float = 0.05
    seed: int = 0
    #: Stop before an epoch that would end past this many seconds of training (None: no bound), so a search's
    #: candidates each train within the same wall-clock budget.
    max_seconds: float | None = None


@dataclass
class FitResult:
    model: keras.Model  # the best checkpoint, reloaded from ``checkpoint``
    checkpoint: Path
    loss: list[float]
    val_loss: list[float]
    best_epoch: int  # 1-based
    train_seconds: float

    @property
    def epochs_run(self) -> int:
        return len(self.loss)

    def predict(self, windows: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        """Scaled predictions of the best checkpoint, as :data:`train.evaluate.PredictFn` calls it (Keras sees every
        step of a zero-padded window, so ``n_real`` is not needed)."""
        return self.model.predict(windows, batch_size=8192, verbose=0)[:, 0]


class EpochBar(keras.callbacks.Callback):
    """One tqdm bar per model, one tick per epoch, showing the latest losses (Keras' own output is silenced)."""

    def __init__(self, name: str, epochs: int) -> None:
        super().__init__()
        self.bar = tqdm(total=epochs, desc=name, unit="epoch", leave=False, disable=None)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.bar.set_postfix(
            loss=f"{logs.get('loss', float('nan')):.5f}", val_loss=f"{logs.get('val_loss', float('nan')):.5f}"
        )
        self.bar.update()

    def on_train_end(self, logs: dict | None = None) -> None:
        self.bar.close()


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the epoch past which the next one (as long as the longest so far) would end beyond
    ``seconds`` of training; logs every epoch's losses so a bounded run shows how far it got."""

    def __init__(self, name: str, seconds: float | None) -> None:
        super().__init__()
        self.name, self.seconds = name, seconds
        self.started = time.perf_counter()
        self.longest = 0.0
        self.epoch_started = self.started

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.epoch_started)
        logs = logs or {}
        log.info(
            "%s: epoch %d in %.0f s, loss %.6f, val_loss %.6f",
            self.name,
            epoch + 1,
            now - self.epoch_started,
            logs.get("loss", float("nan")),
            logs.get("val_loss", float("nan")),
        )
        if self.seconds is not None and now - self.started + self.longest > self.seconds:
            log.info("%s: stopping after epoch %d, the next would end past %.0f s", self.name, epoch + 1, self.seconds)
            self.model.stop_training = True


def seed_everything(seed: int) -> None:
    """Python, numpy and TF seeds, and deterministic TF kernels (a little slower on CPU, but reproducible)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_keras_model(
    name: str,
    spec: WindowSpec,
    x: np.ndarray,
    y: np.ndarray,
    settings: FitSettings,
    checkpoint: Path,
    build: Callable[[WindowSpec], keras.Model] | None = None,
) -> FitResult:
    """Build ``name`` for ``spec`` (with ``build`` if given, else :data:`train.models.BUILDERS`), fit it on scaled
    windows with the last ``validation_split`` of them (the most recent, as Keras takes the tail before shuffling)
    for early stopping, and return the best checkpoint."""
    seed_everything(settings.seed)
    model = (build or BUILDERS[name])(spec)
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate), loss="mse")
    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    callbacks = [
        keras.callbacks.EarlyStopping(patience=settings.patience),
        keras.callbacks.ModelCheckpoint(checkpoint, save_best_only=True),
        EpochBar(name, settings.epochs),
        TimeBudget(name, settings.max_seconds),
    ]
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=settings.batch_size,
        epochs=settings.epochs,
        validation_split=settings.validation_split,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - started
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    best_epoch = int(np.argmin(val_loss)) + 1
    log.info(
        "%s: %d epochs in %.1f s, best val_loss %.6f at epoch %d",
        name,
        len(loss),
        seconds,
        val_loss[best_epoch - 1],
        best_epoch,
    )
    return FitResult(keras.models.load_model(checkpoint), checkpoint, loss, val_loss, best_epoch, seconds)
