"""The ranking model: a Keras 3 multi-task network with its preprocessing
inside (signed log1p + normalisation of the numeric features, tokenising the
text, hashing the ids), so serving feeds it the same raw `FeatureBatch`
training did and the two cannot skew. Training worker only (TensorFlow)."""

import math

import keras
import numpy as np
import tensorflow as tf

from ranking.serving.scorer import model_inputs
from ranking.spec import HEADS, NUMERIC_FEATURES, Examples, FeatureBatch

TEXT_VOCAB_SIZE = 5_000
# Hash buckets per id: collisions only blur personalisation for the colliding
# pair, they never break a prediction, so a fixed size serves any user count.
ID_HASH_BINS = 16_384
# Text, viewer and author vectors share one size: the crosses multiply them.
EMBEDDING_DIM = 16
TRUNK_UNITS = (64, 32)
# Numeric features also fed on their raw scale (standardised only), to the
# trunk and linearly to the heads' logits.
LINEAR_FEATURES = ("age_h",)
LEARNING_RATE = 2e-3
# Embedding tables see each id rarely; a light L2 keeps the ids seen a handful
# of times from memorising their few labels.
EMBEDDING_L2 = 1e-6
HEADS_LAYER = "heads"
PROBABILITY_EPSILON = 1e-6


class TextBag(keras.layers.Layer):
    """Tweet text -> the mean embedding of its tokens.

    TextVectorization (whitespace split, vocabulary adapted on the training
    text) yields a ragged batch of token ids; pooling the embeddings of just
    the real tokens costs less than half as much at serving time as padding
    every tweet to a fixed length and masking (measured for 1,000 tweets:
    ~0.7 ms vs ~2 ms)."""

    def __init__(self, *, vocabulary_size: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.vectorise = keras.layers.TextVectorization(
            max_tokens=vocabulary_size,
            standardize="lower_and_strip_punctuation",
            split="whitespace",
            output_mode="int",
            ragged=True,
            name="text_vectorise",
        )
        self.embedding = keras.layers.Embedding(vocabulary_size, dim, name="text_embedding")

    def adapt(self, texts: np.ndarray) -> None:
        """Learn the vocabulary (the TEXT_VOCAB_SIZE most frequent tokens)."""
        self.vectorise.adapt(tf.constant(texts, dtype=tf.string), batch_size=4096)

    def build(self, input_shape):
        # The table is read directly by the pooling op below, never through
        # the Embedding's own call, so create its weights here.
        self.embedding.build((None,))
        super().build(input_shape)

    def call(self, texts):
        tokens = self.vectorise(texts)
        # One fused gather-and-average (SparseSegmentMean) over the real
        # tokens; a text without tokens pools to zeros.
        return tf.sparse.segment_mean(
            self.embedding.embeddings,
            tokens.flat_values,
            tokens.value_rowids(),
            num_segments=tokens.nrows(),
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)


class HeadOutput(keras.layers.Layer):
    """Column `index` of the heads layer: one head's probability, [n, 1]."""

    def __init__(self, index: int, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, probabilities):
        return probabilities[:, self.index : self.index + 1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


def _logit(rate: float) -> float:
    rate = min(max(rate, PROBABILITY_EPSILON), 1 - PROBABILITY_EPSILON)
    return math.log(rate / (1 - rate))


def build_model(sample: FeatureBatch, *, positive_rates: dict[str, float] | None = None, seed: int = 0) -> keras.Model:
    """A fresh multi-task model whose preprocessing is adapted on `sample`
    (normalisation statistics of the signed log1p of numeric, the text vocabulary).

    `positive_rates` (head -> share of positives in the training set) start
    each head's bias at the constant predictor, so rare heads (report) begin
    at a sensible loss instead of spending the first epoch getting there."""
    keras.utils.set_random_seed(seed)
    inputs = model_inputs(sample)
    numeric_in = keras.Input(shape=(len(NUMERIC_FEATURES),), dtype="float32", name="numeric")
    text_in = keras.Input(shape=(), dtype="string", name="text")
    viewer_in = keras.Input(shape=(), dtype="int64", name="viewer_id")
    author_in = keras.Input(shape=(), dtype="int64", name="author_id")

    # Counts and ages are heavy-tailed: a signed log1p first (lifts can be
    # negative, and their sign matters), then standardise.
    normalise = keras.layers.Normalization(name="numeric_normalise")
    normalise.adapt(np.sign(inputs["numeric"]) * np.log1p(np.abs(inputs["numeric"])))
    numeric = normalise(keras.ops.sign(numeric_in) * keras.ops.log1p(keras.ops.abs(numeric_in)))
    # Age also raw (standardised, not logged): its true effect on the odds is
    # about linear in hours, and served candidates are older than most trained
    # impressions (a chronological feed shows the newest), so the model must
    # extrapolate in hours, not in log hours.
    linear_columns = [NUMERIC_FEATURES.index(name) for name in LINEAR_FEATURES]
    linear_normalise = keras.layers.Normalization(name="linear_normalise")
    linear_normalise.adapt(inputs["numeric"][:, linear_columns])
    linear = linear_normalise(keras.ops.take(numeric_in, linear_columns, axis=1))

    text_bag = TextBag(vocabulary_size=TEXT_VOCAB_SIZE, dim=EMBEDDING_DIM, name="text_bag")
    text_bag.adapt(inputs["text"])
    text = text_bag(text_in)

    def id_embedding(ids, name: str):
        hashed = keras.layers.Hashing(num_bins=ID_HASH_BINS, name=f"{name}_hash")(ids)
        return keras.layers.Embedding(
            ID_HASH_BINS,
            EMBEDDING_DIM,
            embeddings_regularizer=keras.regularizers.L2(EMBEDDING_L2),
            name=f"{name}_embedding",
        )(hashed)

    viewer = id_embedding(viewer_in, "viewer")
    author = id_embedding(author_in, "author")
    # Explicit crosses: what this viewer thinks of this kind of text and of
    # this author, which a small MLP would otherwise need many examples to find.
    viewer_text = keras.layers.Multiply(name="viewer_x_text")([viewer, text])
    viewer_author = keras.layers.Multiply(name="viewer_x_author")([viewer, author])
    trunk = keras.layers.Concatenate(name="features")(
        [numeric, linear, text, viewer, author, viewer_text, viewer_author]
    )
    for i, units in enumerate(TRUNK_UNITS):
        trunk = keras.layers.Dense(units, activation="relu", name=f"trunk_{i}")(trunk)

    # The heads are one Dense layer with a sigmoid unit per head: the same
    # function as one Dense(1) per head (every unit has its own weights and
    # bias), one matmul instead of six when serving. Each head is then its
    # own named output with its own loss.
    rates = positive_rates or {}
    deep = keras.layers.Dense(
        len(HEADS),
        # Zero weights and the base rates' logits as biases: untrained, every
        # head predicts its base rate whatever the random trunk computes.
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([_logit(rates[head]) if head in rates else 0.0 for head in HEADS]),
        name="deep_logits",
    )(trunk)
    # A wide, linear path from the raw-scale features straight to each head's logit.
    # Starts at zero, so an untrained model predicts each head's base rate.
    wide = keras.layers.Dense(len(HEADS), use_bias=False, kernel_initializer="zeros", name="wide_logits")(linear)
    logits = keras.layers.Add(name="logits")([deep, wide])
    heads = keras.layers.Activation("sigmoid", name=HEADS_LAYER)(logits)
    outputs = {head: HeadOutput(i, name=head)(heads) for i, head in enumerate(HEADS)}
    model = keras.Model(
        inputs={"numeric": numeric_in, "text": text_in, "viewer_id": viewer_in, "author_id": author_in},
        outputs=outputs,
        name="ranker",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss={head: keras.losses.BinaryCrossentropy() for head in HEADS},
    )
    return model


def positive_rates(examples: Examples) -> dict[str, float]:
    """Share of positive labels per head."""
    return {head: float(np.mean(examples.labels[head])) if len(examples.labels[head]) else 0.0 for head in HEADS}
