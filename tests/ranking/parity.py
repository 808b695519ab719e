"""Comparing two builders' examples, whatever order each lists them in."""

import numpy as np

from ranking.spec import HEADS, NUMERIC_FEATURES


def canonical(examples):
    """The examples sorted by (viewer, time, author, text, request)."""
    order = np.lexsort(
        (
            examples.feed_request.astype(str),
            examples.features.text.astype(str),
            examples.features.author_id,
            examples.at,
            examples.features.viewer_id,
        )
    )
    return examples.subset(order)


def assert_same_examples(built, reference):
    """The same impressions, labels and features (to float32's rounding: the
    builders sum in different orders)."""
    assert len(built) == len(reference)
    a, b = canonical(built), canonical(reference)
    assert a.features.viewer_id.tolist() == b.features.viewer_id.tolist()
    assert a.features.author_id.tolist() == b.features.author_id.tolist()
    assert a.features.text.tolist() == b.features.text.tolist()
    assert a.feed_request.tolist() == b.feed_request.tolist()
    assert a.at.tolist() == b.at.tolist()
    assert {head: a.labels[head].tolist() for head in HEADS} == {head: b.labels[head].tolist() for head in HEADS}
    close = np.isclose(a.features.numeric, b.features.numeric, rtol=1e-5, atol=1e-5)
    differing = {name: int((~close[:, j]).sum()) for j, name in enumerate(NUMERIC_FEATURES) if not close[:, j].all()}
    assert differing == {}
