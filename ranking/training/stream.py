"""The builder's Parquet shards streamed into tf.data: shards interleaved,
read a record batch at a time, only the examples of a given set (the
training slice), shuffled in a bounded buffer. Memory stays bounded by the
buffer and the batches in flight, whatever the number of examples."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf

from ranking.serving.scorer import model_inputs
from ranking.spec import HEADS, NUMERIC_FEATURES
from ranking.training.builder import examples_from_table

READ_ROWS = 4096  # rows per record batch read from a shard
SHUFFLE_BUFFER = 100_000  # examples: ~15 MB of numeric rows, plus their texts
INTERLEAVE_SHARDS = 4


def _signature():
    inputs = {
        "numeric": tf.TensorSpec([None, len(NUMERIC_FEATURES)], tf.float32),
        "text": tf.TensorSpec([None], tf.string),
        "viewer_id": tf.TensorSpec([None], tf.int64),
        "author_id": tf.TensorSpec([None], tf.int64),
    }
    return inputs, {head: tf.TensorSpec([None, 1], tf.float32) for head in HEADS}


def shard_dataset(
    files: list[Path],
    iids: np.ndarray,
    *,
    batch_size: int,
    seed: int = 0,
    shuffle_buffer: int = SHUFFLE_BUFFER,
) -> tf.data.Dataset:
    """Batches of (model inputs, labels) of the examples `iids` of the shard
    `files`, reshuffled each epoch (the shards' order, then a buffer of
    `shuffle_buffer` examples)."""
    wanted = pa.array(np.asarray(iids, dtype=np.int64))

    def rows(path):
        reader = pq.ParquetFile(path.decode() if isinstance(path, bytes) else str(path))
        for batch in reader.iter_batches(batch_size=READ_ROWS):
            table = pa.Table.from_batches([batch])
            table = table.filter(pc.is_in(table["iid"], value_set=wanted))
            if table.num_rows:
                examples = examples_from_table(table)
                yield (
                    model_inputs(examples.features),
                    {head: examples.labels[head].reshape(-1, 1) for head in HEADS},
                )

    paths = tf.data.Dataset.from_tensor_slices([str(f) for f in files])
    paths = paths.shuffle(max(len(files), 1), seed=seed, reshuffle_each_iteration=True)
    dataset = paths.interleave(
        lambda path: tf.data.Dataset.from_generator(rows, args=(path,), output_signature=_signature()),
        cycle_length=min(INTERLEAVE_SHARDS, max(len(files), 1)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    # The number of batches is known (every iid is in one shard): said, so
    # Keras counts an epoch's steps instead of warning when the stream ends.
    batches = -(-len(iids) // batch_size)
    return (
        dataset.unbatch()
        .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .apply(tf.data.experimental.assert_cardinality(batches))
        .prefetch(tf.data.AUTOTUNE)
    )
