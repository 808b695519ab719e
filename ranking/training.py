"""Training the ranker from the engagement log: labelled examples, a split
by time, training, evaluation against the active model on the same slice,
registration, and promotion when the new model ranks better.

Runs in training workers and the `train_ranker` command: it imports
TensorFlow (through ranking.model) when it trains.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.db import transaction

from ranking.evaluation import evaluate
from ranking.features import FEATURE_SPEC_VERSION, Examples, training_examples
from ranking.models import ModelVersion
from ranking.registry import active_version, register, version_activate

logger = logging.getLogger(__name__)

MIN_TRAIN_EXAMPLES = 200
MIN_VALIDATION_EXAMPLES = 20
# Heads that must have both classes in the training slice: without a single
# like the model would learn nothing worth serving. Rarer heads (a report)
# may be absent from a small window; their head then predicts ~0.
HEADS_NEEDING_BOTH_CLASSES = ("like",)
# At most this many passes; training stops earlier once the loss on the
# latest EARLY_STOPPING_SHARE of the training slice stops improving.
DEFAULT_EPOCHS = 8
EARLY_STOPPING_SHARE = 0.1
EARLY_STOPPING_PATIENCE = 2
# Small logs get small batches, so a few thousand impressions still make
# enough gradient steps; large ones get large batches, for speed.
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 32, 512
STEPS_PER_EPOCH_TARGET = 100


class TrainingError(Exception):
    """Training refused: not enough (or not usable) data. Nothing was registered."""


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    activated: bool
    reason: str  # why it was (not) activated
    metrics: dict  # the new version's validation metrics (also in version.metrics)
    baseline: dict | None = field(default=None)  # the active version's, on the same slice


def time_split(examples: Examples, *, validation_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, validation): validation is the latest
    `validation_share` of the impressions. A feed request is never cut in
    two: it goes where its first impression falls, so validation requests
    are whole for NDCG and nothing of them was trained on."""
    if not 0 < validation_share < 1:
        raise ValueError("validation_share must be between 0 and 1")
    at = np.asarray(examples.at, dtype=np.float64)
    n = len(at)
    requests = np.array(["" if r is None else str(r) for r in examples.feed_request], dtype=object)
    # Impressions logged without a feed request stand alone.
    keys = np.where(requests == "", np.array([f"\0{i}" for i in range(n)], dtype=object), requests)
    _, group = np.unique(keys.astype(str), return_inverse=True)
    starts = np.full(int(group.max()) + 1 if n else 0, np.inf)
    np.minimum.at(starts, group, at)
    start = starts[group]
    cutoff = np.sort(start)[min(int(n * (1 - validation_share)), n - 1)] if n else 0.0
    validation = start >= cutoff
    return ~validation, validation


def _batch_size(n_train: int) -> int:
    return int(np.clip(n_train // STEPS_PER_EPOCH_TARGET, BATCH_SIZE_MIN, BATCH_SIZE_MAX))


def _check(train: Examples, validation: Examples) -> None:
    n_train, n_validation = len(train.features), len(validation.features)
    if n_train < MIN_TRAIN_EXAMPLES or n_validation < MIN_VALIDATION_EXAMPLES:
        raise TrainingError(
            f"Too little data: {n_train} training and {n_validation} validation impressions "
            f"(need at least {MIN_TRAIN_EXAMPLES} and {MIN_VALIDATION_EXAMPLES}). No model was registered."
        )
    for head in HEADS_NEEDING_BOTH_CLASSES:
        positives = int(np.sum(np.asarray(train.labels[head]) > 0.5))
        if positives in (0, n_train):
            kind = "no" if positives == 0 else "only"
            raise TrainingError(
                f"The training impressions have {kind} positive '{head}' labels ({positives} of {n_train}): "
                "there is nothing to learn from. No model was registered."
            )


def _window(examples: Examples) -> tuple[datetime, datetime]:
    at = np.asarray(examples.at, dtype=np.float64)
    return datetime.fromtimestamp(float(at.min()), tz=UTC), datetime.fromtimestamp(float(at.max()), tz=UTC)


def _baseline(validation: Examples) -> tuple[ModelVersion | None, dict | None, str]:
    """The active version, its metrics on `validation` (None when it cannot
    score today's features), and why not."""
    from ranking.model import IncompatibleModelError, Scorer

    active = active_version()
    if active is None:
        return None, None, ""
    try:
        predictions = Scorer.from_bytes(bytes(active.artifact)).predict(validation.features)
    except IncompatibleModelError as exc:
        return active, None, str(exc)
    except Exception as exc:
        # An active model no worker can load is the worst one to keep: say
        # so, and let the new one replace it.
        logger.exception("The active model %s cannot be loaded", active.name)
        return active, None, f"it cannot be loaded: {exc!r}"
    return active, evaluate(predictions, validation), ""


def _decide(
    *, activate: bool, metrics: dict, active: ModelVersion | None, baseline: dict | None, incompatible: str
) -> tuple[bool, str]:
    if activate:
        return True, "activated on request"
    if active is None:
        return True, "no version was active"
    if baseline is None:
        return True, f"the active {active.name} cannot score the current features ({incompatible})"
    new, old = metrics["ndcg_at_10"], baseline["ndcg_at_10"]
    if new is None or old is None:
        return False, "NDCG@10 is undefined on the validation slice (no request with differing outcomes)"
    if new > old:
        return True, f"NDCG@10 {new:.4f} beats {active.name}'s {old:.4f}"
    return False, f"NDCG@10 {new:.4f} does not beat {active.name}'s {old:.4f}"


def ranker_fit(*, train: Examples, epochs: int = DEFAULT_EPOCHS, seed: int = 0):
    """A fresh model fitted on `train`: (model, a JSON-able summary). The
    latest EARLY_STOPPING_SHARE of `train` is held out to decide when to
    stop, and the weights of its best epoch are kept."""
    from ranking.model import build_model, fit, positive_rates

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
    best = int(np.argmin(history["val_loss"])) if "val_loss" in history else len(history["loss"]) - 1
    return model, {
        "epochs_run": len(history["loss"]),
        "best_epoch": best + 1,
        "max_epochs": epochs,
        "batch_size": batch_size,
        "n_fit": len(fitted.features),
        "n_early_stopping": len(stopper.features) if stopper else 0,
        "loss": {name: round(values[best], 6) for name, values in history.items()},
    }


def train_ranker(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    activate: bool = False,
    epochs: int = DEFAULT_EPOCHS,
    validation_share: float = 0.2,
    seed: int = 0,
) -> TrainingResult:
    """Train a ranker on the impressions in [since, until), validate it on
    the latest `validation_share` of them, register it as a candidate and
    activate it when it beats the active version's NDCG@10 on the same
    slice, when none is active, or when `activate` is set.

    Raises TrainingError, registering nothing, when there is too little data
    or the training slice has a single class of likes."""
    examples = training_examples(since=since, until=until)
    if len(examples.features) == 0:
        raise TrainingError("No impressions in the engagement log for this window: nothing to train on yet.")
    train_mask, validation_mask = time_split(examples, validation_share=validation_share)
    train, validation = examples.subset(train_mask), examples.subset(validation_mask)
    _check(train, validation)

    from ranking.model import Scorer, export_model

    began = time.perf_counter()
    model, fitting = ranker_fit(train=train, epochs=epochs, seed=seed)
    train_s = time.perf_counter() - began
    artifact = export_model(model)
    # Evaluated through the exported artifact: exactly what workers will serve.
    metrics = evaluate(Scorer.from_bytes(artifact).predict(validation.features), validation)

    active, baseline, incompatible = _baseline(validation)
    activated, reason = _decide(
        activate=activate, metrics=metrics, active=active, baseline=baseline, incompatible=incompatible
    )
    window_start, window_end = _window(examples)
    record = {
        **metrics,
        "baseline": {"version": active.name, **baseline} if active and baseline else None,
        "decision": reason,
        "training": {**fitting, "seconds": round(train_s, 2), "validation_from": _window(validation)[0].isoformat()},
    }
    with transaction.atomic():
        version = register(
            artifact=artifact,
            metrics=record,
            feature_spec_version=FEATURE_SPEC_VERSION,
            window_start=window_start,
            window_end=window_end,
            n_train=len(train.features),
            n_validation=len(validation.features),
        )
        if activated:
            version_activate(version=version)
    logger.info("Trained ranker %s (%s): %s", version.name, "activated" if activated else "candidate", reason)
    return TrainingResult(version=version, activated=activated, reason=reason, metrics=metrics, baseline=baseline)
