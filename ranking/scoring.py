"""Turning the model's per-action probabilities into one score, and the model
each worker process scores with. Runs in workers: TensorFlow is imported (by
ranking.model) only when a model is first loaded."""

import logging
import threading
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from ranking.features import HEADS

logger = logging.getLogger(__name__)


def weighted_score(probabilities: dict[str, np.ndarray]) -> np.ndarray:
    """Sum over heads of weight x probability: the same weights as the
    business metric, so the ranker optimises what the metric measures."""
    weights = settings.ENGAGEMENT_WEIGHTS
    return sum(weights[head] * probabilities[head].astype(np.float64) for head in HEADS)


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    name: str
    scorer: object  # ranking.model.Scorer


_loaded: LoadedModel | None = None
_lock = threading.Lock()


def active_model() -> LoadedModel | None:
    """The active model version, loaded once per process and reloaded when
    another version becomes active (one light query per call)."""
    global _loaded
    from ranking.models import ModelVersion

    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("pk", "name").first()
    if active is None:
        return None
    if _loaded is None or _loaded.version_id != active[0]:
        with _lock:
            if _loaded is None or _loaded.version_id != active[0]:
                from ranking.model import Scorer

                artifact = ModelVersion.objects.values_list("artifact", flat=True).get(pk=active[0])
                _loaded = LoadedModel(active[0], active[1], Scorer.from_bytes(bytes(artifact)))
                logger.info("Loaded ranking model %s", active[1])
    return _loaded
