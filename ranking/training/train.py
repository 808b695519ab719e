"""Training the ranker from the engagement log: labelled examples (at most
TRAIN_MAX_EXAMPLES_PER_USER per person), a split by time, training,
evaluation against the active model on the same slice, registration, and
promotion when the new model ranks better, and never when it ranks no better
than the chronological feed or a constant predictor.

Runs in the training worker and the `train_ranker` command (TensorFlow).
"""

import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from ranking.models import ModelVersion
from ranking.registry import active_version, register, version_activate
from ranking.serving.scorer import IncompatibleModelError, Scorer
from ranking.spec import FEATURE_SPEC_VERSION, Examples
from ranking.training.builder import (
    build_examples,
    example_window,
    read_examples,
    read_index,
    shard_files,
)
from ranking.training.evaluation import chronological_ndcg, evaluate
from ranking.training.examples import per_user_cap, time_split
from ranking.training.export import export_model
from ranking.training.fit import DEFAULT_EPOCHS, EARLY_STOPPING_SHARE, ranker_fit_shards
from ranking.training.network import positive_rates

logger = logging.getLogger(__name__)

MIN_TRAIN_EXAMPLES = 200
MIN_VALIDATION_EXAMPLES = 20
# Heads that must have both classes in the training slice: without a single
# like the model would learn nothing worth serving. Rarer heads (a report)
# may be absent from a small window; their head then predicts ~0.
HEADS_NEEDING_BOTH_CLASSES = ("like",)
# How a decision not to activate a model unfit to serve begins.
UNFIT = "not activated, unfit to serve"


# The examples the model's preprocessing (normalisation, text vocabulary) is adapted on.
MODEL_SAMPLE = 200_000


def build_training_shards(*, since: datetime | None, until: datetime | None, directory: Path) -> None:
    """The examples of the window as Parquet shards in `directory`/shards
    (ranking.training.builder, on DuckDB); none when the window is empty."""
    window = example_window(since=since, until=until)
    if window is not None:
        build_examples(window, directory)


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


def _unfit(metrics: dict) -> str | None:
    """Why a model must not serve, judged on the validation slice, or None.
    Its like ROC-AUC must reach TRAIN_MIN_LIKE_ROC_AUC (a constant predictor,
    or one that learned nothing, scores 0.5), and its NDCG@10 must beat the
    chronological order's (`metrics["chronological_ndcg_at_10"]`): worse than
    either, the feed it would rank is better served chronologically."""
    auc, least = metrics["heads"]["like"]["roc_auc"], settings.TRAIN_MIN_LIKE_ROC_AUC
    if auc is None:
        return "its like ROC-AUC is undefined on the validation slice (one class of likes)"
    if auc < least:
        return f"its like ROC-AUC {auc:.4f} is below {least:.2f} (a constant predictor scores 0.5)"
    ndcg, chronological = metrics["ndcg_at_10"], metrics.get("chronological_ndcg_at_10")
    if ndcg is None or chronological is None:
        return "NDCG@10 is undefined on the validation slice: it cannot be compared with the chronological order"
    if ndcg <= chronological:
        return f"its NDCG@10 {ndcg:.4f} does not beat the chronological order's {chronological:.4f}"
    return None


def _decide(
    *, activate: bool, metrics: dict, active: ModelVersion | None, baseline: dict | None, incompatible: str
) -> tuple[bool, str]:
    unfit = _unfit(metrics)
    if activate:
        return True, "activated on request" + (f", although {unfit}" if unfit else "")
    # Before anything else: not even an active version that cannot be
    # loaded is a reason to serve a model worse than the chronological feed
    # (a worker falls back to an older version, or to the chronological feed).
    if unfit:
        return False, f"{UNFIT}: {unfit}"
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
    candidate: bool = False,
    epochs: int = DEFAULT_EPOCHS,
    validation_share: float = 0.2,
    seed: int = 0,
) -> TrainingResult:
    """Train a ranker on the impressions in [since, until), ending at the
    latest one ATTRIBUTION_WINDOW before now (an impression is used only
    once its labels are complete), at most TRAIN_MAX_EXAMPLES_PER_USER of
    any one viewer's, validate it on the latest `validation_share` of them,
    register it as a candidate and activate it when it is fit to serve
    (`_unfit`: better than a constant predictor and than the chronological
    order) and beats the active version's NDCG@10 on the same slice (or
    none is active, or the active one cannot be loaded), or when `activate`
    is set. With `candidate`, it stays a candidate whatever its metrics: a
    challenger for an online experiment, which decides instead.

    Raises TrainingError, registering nothing, when there is too little data
    or the training slice has a single class of likes."""
    with tempfile.TemporaryDirectory(prefix="training-") as work:
        shards = Path(work) / "shards"
        build_training_shards(since=since, until=until, directory=Path(work))
        if not shard_files(shards):
            raise TrainingError("No impressions in the engagement log for this window: nothing to train on yet.")
        index = read_index(shards)
        examples = index.examples
        kept = per_user_cap(examples, max_per_user=settings.TRAIN_MAX_EXAMPLES_PER_USER)
        capped = {
            "examples_dropped": int((~kept).sum()),
            "users_capped": len(np.unique(examples.features.viewer_id[~kept])),
        }
        if capped["examples_dropped"]:
            logger.info(
                "Capped %s viewers at %s examples each: %s examples left out",
                capped["users_capped"],
                settings.TRAIN_MAX_EXAMPLES_PER_USER,
                capped["examples_dropped"],
            )
        examples, iids = examples.subset(kept), index.iid[kept]
        train_mask, validation_mask = time_split(examples, validation_share=validation_share)
        train = examples.subset(train_mask)
        _check(train, examples.subset(validation_mask))

        # Only the slices the evaluation and early stopping need are loaded;
        # the fitting slice is streamed from the shards.
        fit_mask, stop_mask = time_split(train, validation_share=EARLY_STOPPING_SHARE)
        if not fit_mask.any():  # one long feed request cannot be cut: no early stopping then
            fit_mask, stop_mask = np.ones(len(train), bool), np.zeros(len(train), bool)
        fit_iids = iids[train_mask][fit_mask]
        sample = np.random.default_rng(seed).choice(fit_iids, min(len(fit_iids), MODEL_SAMPLE), replace=False)
        validation = read_examples(shards, iids=iids[validation_mask])
        stopper = read_examples(shards, iids=iids[train_mask][stop_mask]) if stop_mask.any() else None

        began = time.perf_counter()
        model, fitting = ranker_fit_shards(
            files=shard_files(shards),
            fit_iids=fit_iids,
            sample=read_examples(shards, iids=sample),
            rates=positive_rates(train.subset(fit_mask)),
            stopper=stopper,
            epochs=epochs,
            seed=seed,
        )
        train_s = time.perf_counter() - began
    artifact = export_model(model)
    # Evaluated through the exported artifact: exactly what workers will serve.
    metrics = evaluate(Scorer.from_bytes(artifact).predict(validation.features), validation)
    metrics["chronological_ndcg_at_10"] = chronological_ndcg(validation)

    active, baseline, incompatible = _baseline(validation)
    if candidate:
        activated, reason = False, "registered as a candidate on request"
    else:
        activated, reason = _decide(
            activate=activate, metrics=metrics, active=active, baseline=baseline, incompatible=incompatible
        )
    window_start, window_end = _window(examples)
    record = {
        **metrics,
        "baseline": {"version": active.name, **baseline} if active and baseline else None,
        "decision": reason,
        "training": {
            **fitting,
            **capped,
            "seconds": round(train_s, 2),
            "validation_from": _window(validation)[0].isoformat(),
        },
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
    # Unfit to serve is worth an operator's look; not beating the active one is routine.
    level = logging.WARNING if reason.startswith(UNFIT) else logging.INFO
    logger.log(level, "Trained ranker %s (%s): %s", version.name, "activated" if activated else "candidate", reason)
    return TrainingResult(version=version, activated=activated, reason=reason, metrics=metrics, baseline=baseline)
