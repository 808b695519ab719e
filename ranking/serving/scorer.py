"""Scoring in the feeds workers: the model artifact's format, the compiled
scorer that serves it, and the models rankers name: the active one, loaded
once per process, and the versions experiments' variants name, a few kept
loaded per process.

Imports TensorFlow: only worker code imports this module (the web process
never does: it costs ~2 s and ~575 MB, DESIGN.md).
"""

import io
import json
import logging
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from django.conf import settings
from django.db import DatabaseError

from config import telemetry
from ranking.experiments.lifecycle import ACTIVE
from ranking.models import ModelVersion
from ranking.spec import FEATURE_SPEC_VERSION, HEADS, NUMERIC_FEATURES, FeatureBatch

logger = logging.getLogger(__name__)

# The artifact: a zip of a SavedModel with one fixed-signature endpoint, and
# beside it a note of what its inputs and outputs mean.
SERVING_ENDPOINT = "serve"
SAVED_MODEL_DIR = "saved_model"
METADATA_FILE = "ranker.json"


class IncompatibleModelError(ValueError):
    """A stored model whose inputs or outputs are not the ones this code
    produces and expects (trained on another feature specification)."""


def model_inputs(batch: FeatureBatch) -> dict[str, np.ndarray]:
    """The model's input dict for a batch, in the dtypes of its signature."""
    return {
        "numeric": np.asarray(batch.numeric, dtype=np.float32),
        # Python str objects: TensorFlow encodes them to UTF-8 itself, faster
        # than through a fixed-width numpy unicode array.
        "text": np.asarray(batch.text, dtype=object),
        "viewer_id": np.asarray(batch.viewer_id, dtype=np.int64),
        "author_id": np.asarray(batch.author_id, dtype=np.int64),
    }


def signature(width: int) -> list[tf.TensorSpec]:
    return [
        tf.TensorSpec([None, width], tf.float32, name="numeric"),
        tf.TensorSpec([None], tf.string, name="text"),
        tf.TensorSpec([None], tf.int64, name="viewer_id"),
        tf.TensorSpec([None], tf.int64, name="author_id"),
    ]


class Scorer:
    """A loaded model that predicts through its compiled serving graph.

    Never `model.predict`: that costs ~50 ms a call whatever the batch; the
    SavedModel's concrete function costs ~0.4 ms for one candidate and
    ~1.5 ms for 1,000."""

    def __init__(self, loaded, *, metadata: dict):
        self.numeric_features = tuple(metadata["numeric_features"])
        self.heads = tuple(metadata["heads"])
        self.feature_spec_version = metadata["feature_spec_version"]
        # Its columns are read by name below: a model whose heads are not
        # ours could not be weighted into a score.
        if set(self.heads) != set(HEADS):
            raise IncompatibleModelError(f"the model predicts {self.heads}, the ranker weighs {HEADS}")
        # The loaded object owns the variables and lookup tables the function
        # captures: keep it alive as long as the function.
        self._loaded = loaded
        self._serve = getattr(loaded, SERVING_ENDPOINT).get_concrete_function(*signature(len(self.numeric_features)))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Scorer":
        """Load a model exported by `export_model`."""
        with tempfile.TemporaryDirectory() as directory:
            root = Path(directory).resolve()
            with zipfile.ZipFile(io.BytesIO(data)) as archive_zip:
                for member in archive_zip.namelist():
                    # A stored artifact is trusted, but never let a path leave the directory.
                    if not (root / member).resolve().is_relative_to(root):
                        raise ValueError(f"unsafe path in model archive: {member}")
                archive_zip.extractall(root)
            metadata = json.loads((root / METADATA_FILE).read_text())
            # Lookup tables and variables are read into memory here: the
            # directory can go once the load returns.
            return cls(tf.saved_model.load(str(root / SAVED_MODEL_DIR)), metadata=metadata)

    def predict(self, batch: FeatureBatch) -> dict[str, np.ndarray]:
        """Probability of each head for each row: head -> float32 [n].
        Raises IncompatibleModelError when the model was trained on other
        numeric features than the ones this code computes."""
        if self.numeric_features != NUMERIC_FEATURES:
            raise IncompatibleModelError(
                f"the model was trained on feature spec {self.feature_spec_version} "
                f"({len(self.numeric_features)} numeric features), this code computes spec {FEATURE_SPEC_VERSION} "
                f"({len(NUMERIC_FEATURES)})"
            )
        inputs = model_inputs(batch)
        if len(inputs["numeric"]) == 0:
            return {head: np.zeros(0, dtype=np.float32) for head in self.heads}
        probabilities = self._serve(
            tf.constant(inputs["numeric"]),
            tf.constant(inputs["text"], dtype=tf.string),
            tf.constant(inputs["viewer_id"]),
            tf.constant(inputs["author_id"]),
        ).numpy()
        return {head: probabilities[:, i] for i, head in enumerate(self.heads)}


@dataclass(frozen=True)
class LoadedModel:
    version_id: int
    name: str
    scorer: Scorer


# A version that failed to load is not tried again for this long: each try
# reads and unzips its whole artifact, and builds come many a second.
LOAD_RETRY_S = 60
# How far back through the versions the active one replaced a worker looks
# for one it can load.
MAX_FALLBACK_VERSIONS = 5

# (the active version's id, the model its feeds are ranked with: the active
# version itself, or the one it falls back to)
_serving: tuple[int, LoadedModel] | None = None
_failed_at: dict[int, float] = {}  # version id -> monotonic time of its last failed load
_lock = threading.Lock()

# The versions experiments' variants name, by version id, the least recently
# used first (at most RANKING_MODEL_CACHE_SIZE).
_named: OrderedDict[int, LoadedModel] = OrderedDict()
_named_lock = threading.Lock()  # held for dict operations only, never for a load
# One lock per version, so that a build waiting for one version's load never
# waits for another's: two arms of an experiment load side by side.
_version_locks: dict[int, threading.Lock] = {}
# Version name -> monotonic time it was last found unable to serve (missing,
# retired, of other features): not looked up again for LOAD_RETRY_S.
_refused_at: dict[str, float] = {}


def _load(version_id: int, name: str) -> LoadedModel | None:
    """Version `version_id` loaded, or None when its artifact is missing,
    corrupt or of other features (logged and counted, then not tried again
    for LOAD_RETRY_S). A database error is raised: it says nothing of the
    model, and the build is retried."""
    failed_at = _failed_at.get(version_id)
    if failed_at is not None and time.monotonic() - failed_at < LOAD_RETRY_S:
        return None
    try:
        artifact = ModelVersion.objects.values_list("artifact", flat=True).get(pk=version_id)
        if not artifact:
            raise ValueError("its artifact is empty")
        scorer = Scorer.from_bytes(bytes(artifact))
        if scorer.numeric_features != NUMERIC_FEATURES:
            raise IncompatibleModelError(
                f"it was trained on feature spec {scorer.feature_spec_version}, "
                f"this code computes spec {FEATURE_SPEC_VERSION}"
            )
    except DatabaseError:
        raise
    except Exception:
        logger.exception("Ranking model %s cannot be loaded", name)
        telemetry.model_load_failure_observe(version=name)
        _failed_at[version_id] = time.monotonic()
        return None
    _failed_at.pop(version_id, None)
    logger.info("Loaded ranking model %s", name)
    return LoadedModel(version_id, name, scorer)


def _loadable(version_id: int, name: str, previous_id: int | None) -> LoadedModel | None:
    """The active version loaded or, when it cannot be, the latest version it
    replaced (of the features served now) that loads; None when none does."""
    active_name = name
    for _ in range(MAX_FALLBACK_VERSIONS):
        model = _load(version_id, name)
        if model is not None:
            if name != active_name:
                logger.error("The active ranking model %s cannot be loaded: ranking with %s", active_name, name)
            return model
        previous = (
            ModelVersion.objects.filter(pk=previous_id, feature_spec_version=FEATURE_SPEC_VERSION)
            .values_list("pk", "name", "previous_id")
            .first()
        )
        if previous is None:
            break
        version_id, name, previous_id = previous
    logger.error("No ranking model can be loaded (the active one is %s): feeds stay chronological", active_name)
    return None


def active_model() -> LoadedModel | None:
    """The model feeds are ranked with: the active version, loaded once per
    process and reloaded when another version becomes active (one light
    query per call). When the active version cannot be loaded, the version it
    replaced, or the one before, that can; None when there is no active
    version or none of them loads (the feeds stay chronological)."""
    global _serving
    active = (
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("pk", "name", "previous_id").first()
    )
    if active is None:
        return None
    if _serving is None or _serving[0] != active[0]:
        with _lock:
            if _serving is None or _serving[0] != active[0]:
                model = _loadable(*active)
                if model is None:
                    return None
                _serving = (active[0], model)
    return _serving[1]


def _named_get(version_id: int) -> LoadedModel | None:
    with _named_lock:
        model = _named.get(version_id)
        if model is not None:
            _named.move_to_end(version_id)
        return model


def _named_keep(model: LoadedModel) -> None:
    with _named_lock:
        _named[model.version_id] = model
        while len(_named) > max(settings.RANKING_MODEL_CACHE_SIZE, 1):
            dropped = _named.popitem(last=False)[1]
            logger.info("Ranking model %s unloaded: the least recently used of %s", dropped.name, len(_named) + 1)


def _version_lock(version_id: int) -> threading.Lock:
    with _named_lock:
        return _version_locks.setdefault(version_id, threading.Lock())


def _refusal(version: tuple | None) -> str | None:
    """Why a version (pk, status, feature spec) cannot serve, or None."""
    if version is None:
        return "no such version"
    _, status, spec = version
    if status == ModelVersion.Status.RETIRED:
        return "it is retired"
    if spec != FEATURE_SPEC_VERSION:
        return f"it was trained on feature spec {spec}, this code computes spec {FEATURE_SPEC_VERSION}"
    return None


def model_for(ranker: str) -> LoadedModel | None:
    """The model `ranker` ranks with. "active": active_model(), with its
    fallback to the versions the active one replaced. A model version's name:
    that version, loaded once per process and kept among the
    RANKING_MODEL_CACHE_SIZE most recently used (one light query per call
    sees it retired); None when it is missing, retired, of other features, or
    its artifact is empty or corrupt (logged and counted, then not tried
    again for LOAD_RETRY_S). Never another version: an experiment's variant
    is served by the version it names or not at all."""
    if ranker == ACTIVE:
        return active_model()
    refused_at = _refused_at.get(ranker)
    if refused_at is not None and time.monotonic() - refused_at < LOAD_RETRY_S:
        return None
    version = ModelVersion.objects.filter(name=ranker).values_list("pk", "status", "feature_spec_version").first()
    refusal = _refusal(version)
    if refusal is not None:
        logger.error("Ranking model %s cannot serve: %s", ranker, refusal)
        telemetry.model_load_failure_observe(version=ranker)
        _refused_at[ranker] = time.monotonic()
        if version is not None:
            with _named_lock:
                _named.pop(version[0], None)
        return None
    _refused_at.pop(ranker, None)
    version_id = version[0]
    serving = _serving
    if serving is not None and serving[1].version_id == version_id:
        return serving[1]  # the one the default feed ranks with: loaded already
    model = _named_get(version_id)
    if model is None:
        with _version_lock(version_id):
            model = _named_get(version_id)  # loaded while this build waited for the lock
            if model is None:
                model = _load(version_id, ranker)
                if model is not None:
                    _named_keep(model)
    return model
