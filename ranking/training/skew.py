"""Training-serving skew, measured on what was served: for a sample of
served ranked items, the feature row the ranker scored (ServedItem.features)
against training's recomputation by the example builder (DuckDB) for the
same viewer, tweet and author as of the same time (its feed request's
built_at).

Zero skew means the model is served exactly the inputs it was trained on.
A difference names a feature whose two evaluators disagree (a window, a
time boundary, a source table that forgot history): fix the evaluator, and
raise the spec's version if the fix changes what the feature means."""

from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np

from feed.models import ServedItem
from ranking.spec import FEATURE_SPEC_FINGERPRINT, FEATURE_SPEC_VERSION, NUMERIC_FEATURES
from ranking.training.builder import features_as_of

# float32 keeps about 7 significant digits, and the two evaluators sum in
# different orders: differences within these are rounding, not skew.
RELATIVE_TOLERANCE = 1e-5
ABSOLUTE_TOLERANCE = 1e-6  # near zero, where a relative tolerance means nothing


@dataclass(frozen=True)
class FeatureSkew:
    feature: str
    differing: int  # items whose served value differs from the recomputed one
    share: float  # differing / items compared
    max_abs_diff: float  # the largest |served - recomputed|


@dataclass(frozen=True)
class SkewReport:
    feature_spec_version: int
    fingerprint: str
    items: int  # served items compared
    items_differing: int  # with at least one differing feature
    features: list[FeatureSkew]

    @property
    def differing_features(self) -> list[str]:
        return [f.feature for f in self.features if f.differing]

    def as_dict(self) -> dict:
        return asdict(self)


def feature_skew(*, sample: int = 1000, since: datetime | None = None) -> SkewReport:
    """Compare up to `sample` served ranked items, drawn at random among
    those served under the current feature spec (built at `since` or later),
    with the training evaluator's features as of their lists' build time."""
    served = ServedItem.objects.filter(
        feature_spec=FEATURE_SPEC_FINGERPRINT, features__isnull=False, feed_request__built_at__isnull=False
    )
    if since is not None:
        served = served.filter(feed_request__built_at__gte=since)
    rows = list(
        served.order_by("?").values_list(
            "feed_request__user_id", "tweet_id", "tweet__author_id", "feed_request__built_at", "features"
        )[:sample]
    )
    n = len(rows)
    differing = np.zeros(len(NUMERIC_FEATURES), dtype=np.int64)
    largest = np.zeros(len(NUMERIC_FEATURES))
    items_differing = 0
    if rows:
        viewer, tweet, author, at, values = zip(*rows, strict=True)
        recomputed = features_as_of(viewer=viewer, tweet=tweet, author=author, at=at).numeric.astype(np.float64)
        logged = np.array(values, dtype=np.float64)
        differ = ~np.isclose(logged, recomputed, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE)
        differing = differ.sum(axis=0)
        largest = np.abs(logged - recomputed).max(axis=0)
        items_differing = int(differ.any(axis=1).sum())
    features = [
        FeatureSkew(name, int(differing[i]), float(differing[i]) / n if n else 0.0, float(largest[i]))
        for i, name in enumerate(NUMERIC_FEATURES)
    ]
    return SkewReport(FEATURE_SPEC_VERSION, FEATURE_SPEC_FINGERPRINT, n, items_differing, features)
