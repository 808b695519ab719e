"""Fitting the network on labelled examples: batches streamed through
tf.data, early stopping on the latest slice of the training window."""

import keras
import numpy as np
import tensorflow as tf

from ranking.serving.scorer import model_inputs
from ranking.spec import HEADS, Examples
from ranking.training.examples import time_split
from ranking.training.network import build_model, positive_rates

# At most this many passes; training stops earlier once the loss on the
# latest EARLY_STOPPING_SHARE of the training slice stops improving.
DEFAULT_EPOCHS = 8
EARLY_STOPPING_SHARE = 0.1
EARLY_STOPPING_PATIENCE = 2
# Small logs get small batches, so a few thousand impressions still make
# enough gradient steps; large ones get large batches, for speed.
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 32, 512
STEPS_PER_EPOCH_TARGET = 100


def _batch_size(n_train: int) -> int:
    return int(np.clip(n_train // STEPS_PER_EPOCH_TARGET, BATCH_SIZE_MIN, BATCH_SIZE_MAX))


def _dataset(examples: Examples, *, batch_size: int, seed: int, shuffle: bool = True) -> tf.data.Dataset:
    inputs = model_inputs(examples.features)
    labels = {head: np.asarray(examples.labels[head], dtype=np.float32).reshape(-1, 1) for head in HEADS}
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels))
    if shuffle:
        # Impressions arrive grouped by request and time; shuffling the whole
        # set each epoch keeps batches from being runs of one viewer's session.
        dataset = dataset.shuffle(len(examples.features), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    train: Examples | tf.data.Dataset,
    *,
    epochs: int = 4,
    batch_size: int = 512,
    seed: int = 0,
    early_stopping: Examples | None = None,
    patience: int = 1,
) -> dict:
    """Train `model` in place with binary cross-entropy on every head; returns
    the loss history (name -> one value per epoch).

    With `early_stopping` examples (later than `train`, never the ones the
    model is judged on), training stops once their loss has not improved for
    `patience` epochs and the weights of the best epoch are kept: id
    embeddings start memorising after a few passes, and how many depends on
    the size of the log."""
    if isinstance(train, Examples) and len(train.features) == 0:
        raise ValueError("no training examples")
    keras.utils.set_random_seed(seed)
    options = {}
    if early_stopping is not None and len(early_stopping.features):
        options["validation_data"] = _dataset(early_stopping, batch_size=4096, seed=seed, shuffle=False)
        options["callbacks"] = [
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        ]
    data = _dataset(train, batch_size=batch_size, seed=seed) if isinstance(train, Examples) else train
    history = model.fit(data, epochs=epochs, shuffle=False, verbose=0, **options)
    return {name: [float(v) for v in values] for name, values in history.history.items()}


def ranker_fit(*, train: Examples, epochs: int = DEFAULT_EPOCHS, seed: int = 0):
    """A fresh model fitted on `train`: (model, a JSON-able summary). The
    latest EARLY_STOPPING_SHARE of `train` is held out to decide when to
    stop, and the weights of its best epoch are kept."""
    fit_mask, stop_mask = time_split(train, validation_share=EARLY_STOPPING_SHARE)
    if fit_mask.any():
        fitted, stopper = train.subset(fit_mask), train.subset(stop_mask)
    else:  # one long feed request cannot be cut: no early stopping then
        fitted, stopper = train, None
    batch_size = _batch_size(len(fitted.features))
    model = build_model(fitted.features, positive_rates=positive_rates(fitted), seed=seed)
    history = fit(
        model,
        fitted,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        early_stopping=stopper,
        patience=EARLY_STOPPING_PATIENCE,
    )
    return model, _fit_report(
        history, epochs=epochs, batch_size=batch_size, n_fit=len(fitted.features), stopper=stopper
    )


def ranker_fit_shards(
    *,
    files: list,
    fit_iids: np.ndarray,
    sample: Examples,
    rates: dict[str, float],
    stopper: Examples | None,
    epochs: int = DEFAULT_EPOCHS,
    seed: int = 0,
):
    """`ranker_fit` on the builder's shards: the fitting slice `fit_iids`
    streamed (ranking.training.stream), the preprocessing adapted on
    `sample` (a random subset of it), each head's bias started at its rate
    in the whole slice (`rates`), early stopping on `stopper`."""
    from ranking.training.stream import shard_dataset

    batch_size = _batch_size(len(fit_iids))
    model = build_model(sample.features, positive_rates=rates, seed=seed)
    history = fit(
        model,
        shard_dataset(files, fit_iids, batch_size=batch_size, seed=seed),
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        early_stopping=stopper,
        patience=EARLY_STOPPING_PATIENCE,
    )
    report = _fit_report(history, epochs=epochs, batch_size=batch_size, n_fit=len(fit_iids), stopper=stopper)
    return model, {**report, "streamed_from_shards": len(files)}


def _fit_report(history: dict, *, epochs: int, batch_size: int, n_fit: int, stopper) -> dict:
    """What a fit did, for the version's metrics: its epochs, the best one and its losses."""
    best = int(np.argmin(history["val_loss"])) if "val_loss" in history else len(history["loss"]) - 1
    return {
        "epochs_run": len(history["loss"]),
        "best_epoch": best + 1,
        "max_epochs": epochs,
        "batch_size": batch_size,
        "n_fit": n_fit,
        "n_early_stopping": len(stopper.features) if stopper else 0,
        "loss": {name: round(values[best], 6) for name, values in history.items()},
    }
