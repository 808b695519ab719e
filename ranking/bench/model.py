"""The model benchmark (`make bench-ranking`): train on synthetic examples
the way `train_ranker` does, export, load, and time the compiled scorer."""

import time
from dataclasses import dataclass

import numpy as np

from ranking.serving.scorer import Scorer
from ranking.spec import FeatureBatch
from ranking.training.evaluation import evaluate
from ranking.training.export import export_model
from ranking.training.fit import DEFAULT_EPOCHS, ranker_fit
from ranking.training.synthetic import synthetic_examples


@dataclass(frozen=True)
class ModelBenchmark:
    examples: int
    epochs: int
    batch_size: int
    train_s: float
    export_s: float
    artifact_bytes: int
    load_s: float
    predict_ms: dict[int, float]  # batch size -> median latency
    candidates_per_s: float  # at the largest batch
    validation: dict

    def as_dict(self) -> dict:
        return {
            "examples": self.examples,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "train_s": self.train_s,
            "export_s": self.export_s,
            "artifact_bytes": self.artifact_bytes,
            "load_s": self.load_s,
            "predict_ms": {str(k): v for k, v in self.predict_ms.items()},
            "candidates_per_s": self.candidates_per_s,
            "validation": self.validation,
        }


def predict_latency_ms(scorer, batch: FeatureBatch, *, calls: int) -> float:
    """Median wall time of `scorer.predict(batch)` over `calls` calls, after a warm-up."""
    for _ in range(5):
        scorer.predict(batch)
    timings = []
    for _ in range(calls):
        began = time.perf_counter()
        scorer.predict(batch)
        timings.append(time.perf_counter() - began)
    return float(np.median(timings) * 1000)


def model_benchmark(
    *, examples: int = 200_000, max_epochs: int | None = None, batches=(1, 100, 1000), calls: int = 300
) -> ModelBenchmark:
    """Train on `examples` synthetic examples the way `train_ranker` does
    (early stopping on the latest tenth, at most `max_epochs` passes; timed,
    data generation not included), export, load, then time
    `Scorer.predict` per batch size."""
    data = synthetic_examples(n=examples + examples // 5, seed=1)
    n = len(data.features)
    train, validation = data.subset(np.arange(examples)), data.subset(np.arange(examples, n))

    began = time.perf_counter()
    model, fitting = ranker_fit(train=train, epochs=max_epochs or DEFAULT_EPOCHS)
    train_s = time.perf_counter() - began

    began = time.perf_counter()
    artifact = export_model(model)
    export_s = time.perf_counter() - began
    began = time.perf_counter()
    scorer = Scorer.from_bytes(artifact)
    load_s = time.perf_counter() - began

    predict_ms = {
        size: predict_latency_ms(scorer, validation.subset(np.arange(size)).features, calls=calls) for size in batches
    }
    largest = max(batches)
    return ModelBenchmark(
        examples=examples,
        epochs=fitting["epochs_run"],
        batch_size=fitting["batch_size"],
        train_s=train_s,
        export_s=export_s,
        artifact_bytes=len(artifact),
        load_s=load_s,
        predict_ms=predict_ms,
        candidates_per_s=largest / (predict_ms[largest] / 1000),
        validation=evaluate(scorer.predict(validation.features), validation),
    )
