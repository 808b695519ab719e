"""The model each worker process scores with. Runs in workers: TensorFlow is imported (by
ranking.model) only when a model is first loaded."""

import logging
import threading
from dataclasses import dataclass

logger = logging.getLogger(__name__)


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
