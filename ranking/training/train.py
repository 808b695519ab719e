"""Training the ranker from the engagement log: labelled examples, a split
by time, training, evaluation against the active model on the same slice,
registration, and promotion when the new model ranks better.

Runs in the training worker and the `train_ranker` command (TensorFlow).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.db import transaction

from ranking.models import ModelVersion
from ranking.registry import active_version, register, version_activate
from ranking.serving.scorer import IncompatibleModelError, Scorer
from ranking.spec import FEATURE_SPEC_VERSION, Examples
from ranking.training.evaluation import evaluate
from ranking.training.examples import time_split, training_examples
from ranking.training.export import export_model
from ranking.training.fit import DEFAULT_EPOCHS, ranker_fit

logger = logging.getLogger(__name__)

MIN_TRAIN_EXAMPLES = 200
MIN_VALIDATION_EXAMPLES = 20
# Heads that must have both classes in the training slice: without a single
# like the model would learn nothing worth serving. Rarer heads (a report)
# may be absent from a small window; their head then predicts ~0.
HEADS_NEEDING_BOTH_CLASSES = ("like",)


class TrainingError(Exception):
    """Training refused: not enough (or not usable) data. Nothing was registered."""


@dataclass(frozen=True)
class TrainingResult:
    version: ModelVersion
    activated: bool
    reason: str  # why it was (not) activated
    metrics: dict  # the new version's validation metrics (also in version.metrics)
    baseline: dict | None = field(default=None)  # the active version's, on the same slice


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


def train_ranker(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    activate: bool = False,
    epochs: int = DEFAULT_EPOCHS,
    validation_share: float = 0.2,
    seed: int = 0,
) -> TrainingResult:
    """Train a ranker on the impressions in [since, until), ending at the
    latest one ATTRIBUTION_WINDOW before now (an impression is used only
    once its labels are complete), validate it on the latest
    `validation_share` of them, register it as a candidate and
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
