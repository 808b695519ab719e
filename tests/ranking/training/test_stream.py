"""The builder's shards streamed into tf.data (imports TensorFlow)."""

import numpy as np
import pytest

from ranking.training import builder
from ranking.training.builder import read_examples, read_index, shard_files, write_examples
from ranking.training.stream import shard_dataset
from ranking.training.synthetic import synthetic_examples

pytestmark = pytest.mark.slow


def test_shards_stream_only_the_chosen_examples_through_a_bounded_buffer(tmp_path, monkeypatch):
    monkeypatch.setattr(builder, "SHARD_ROWS", 300)
    examples = synthetic_examples(n=1000, seed=3)
    write_examples(examples, tmp_path)
    files = shard_files(tmp_path)
    assert len(files) == 4
    index = read_index(tmp_path)
    chosen = index.iid[::2]

    batches = list(shard_dataset(files, chosen, batch_size=64, shuffle_buffer=50, seed=1))

    assert sum(len(b[0]["viewer_id"]) for b in batches) == len(chosen) == 500
    streamed = np.concatenate([b[0]["numeric"].numpy() for b in batches])
    loaded = read_examples(tmp_path, iids=chosen)
    # The same rows, in another order: shuffled across shards.
    assert sorted(map(tuple, streamed.round(4).tolist())) == sorted(
        map(tuple, loaded.features.numeric.round(4).tolist())
    )
    likes = np.concatenate([b[1]["like"].numpy().ravel() for b in batches])
    assert likes.sum() == loaded.labels["like"].sum()
    order = np.concatenate([b[0]["viewer_id"].numpy() for b in batches])
    assert not np.array_equal(order, loaded.features.viewer_id)
    # The index codes feed requests as integers; the split by time reads them as requests.
    assert index.examples.feed_request.dtype.kind == "i"
    assert len(np.unique(index.examples.feed_request)) == len(np.unique(examples.feed_request.astype(str)))
