"""Training: ia_train with a Python progress callback."""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import _lib
from ._lib import lib
from .errors import _raise_for_status
from .emulator import _Mapping


@dataclass(frozen=True)
class TrainEpoch(_Mapping):
    """One training epoch (IaTrainEpoch), given to the progress callback. epoch is 1-based;
    eta_seconds is NaN when unknown; resumed is True for epochs replayed from a checkpoint."""

    epoch: int
    max_epochs: int
    train_loss: float
    validation_loss: float
    best_validation_loss: float
    best_epoch: int
    learning_rate: float
    seconds: float
    eta_seconds: float
    resumed: bool


def train(data_dir, out_path, config=None, progress=None) -> list:
    """Trains a model on the dataset folder `data_dir` (from `iaemu generate`) and writes it to
    `out_path` (.safetensors) (ia_train). Returns the list of TrainEpoch records, one per epoch.

    config: None (the paper's defaults), a dict or a JSON string with the keys of
    `iaemu train --config` (unknown keys are errors). progress: None or a callable taking a
    TrainEpoch after every epoch; a truthy return value stops training (the best model so far
    is still written). An exception raised in `progress` does not cross into C: it stops
    training, and is re-raised here once ia_train has returned.

    An interrupted run resumes from `out_path.checkpoint`; a checkpoint of another
    configuration or dataset is an error (remove it to start afresh). Runs on the calling
    thread, with the GIL released except while the callback runs."""
    if config is None:
        cfg = None
    elif isinstance(config, (bytes, str)):
        cfg = config.encode() if isinstance(config, str) else config
    elif isinstance(config, dict):
        cfg = json.dumps(config).encode()
    else:
        raise TypeError(f"config: expected None, a dict or a JSON string, got {type(config).__name__}")
    data = _lib.path_bytes(data_dir, "data_dir")
    out = _lib.path_bytes(out_path, "out_path")
    history = []
    raised = []

    def on_epoch(epoch_ptr, _user_data):
        try:
            e = epoch_ptr.contents
            record = TrainEpoch(
                epoch=e.epoch, max_epochs=e.max_epochs, train_loss=e.train_loss,
                validation_loss=e.validation_loss, best_validation_loss=e.best_validation_loss,
                best_epoch=e.best_epoch, learning_rate=e.learning_rate, seconds=e.seconds,
                eta_seconds=e.eta_seconds, resumed=bool(e.resumed),
            )
            history.append(record)
            if progress is not None and progress(record):
                return 1
            return 0
        except BaseException as exc:  # never let it cross into C
            raised.append(exc)
            return 1

    callback = _lib.IaTrainProgress(on_epoch)  # kept alive by this frame during the call
    status = lib.ia_train(cfg, data, out, callback, None)
    message = _lib.last_error_message() if status != _lib.IA_OK else ""
    if raised:
        exc = raised[0]
        if status != _lib.IA_OK and hasattr(exc, "add_note"):
            exc.add_note(f"ia_train then returned status {status}: {message}")
        raise exc
    if status != _lib.IA_OK:
        _raise_for_status(status, message)
    return history

