"""Exporting a trained model as the artifact the feeds workers serve
(ranking.serving.scorer reads it back)."""

import io
import json
import tempfile
import zipfile
from pathlib import Path

import keras

from ranking.serving.scorer import METADATA_FILE, SAVED_MODEL_DIR, SERVING_ENDPOINT, signature
from ranking.spec import FEATURE_SPEC_VERSION, HEADS, NUMERIC_FEATURES
from ranking.training.network import HEADS_LAYER


def export_model(model: keras.Model) -> bytes:
    """The model as a SavedModel with one fixed-signature endpoint, zipped
    with a note of its feature names and heads: bytes any worker on any
    machine can load with `Scorer.from_bytes`, with neither Keras nor this
    module's code needed to run the graph."""

    # Served: the heads layer's [n, heads] output itself, in HEADS order, so
    # the graph neither splits the heads apart nor joins them again, and the
    # caller converts one tensor instead of one per head.
    fused = keras.Model(model.inputs, model.get_layer(HEADS_LAYER).output)

    def serve(numeric, text, viewer_id, author_id):
        return fused({"numeric": numeric, "text": text, "viewer_id": viewer_id, "author_id": author_id}, training=False)

    archive = keras.export.ExportArchive()
    archive.track(fused)
    archive.add_endpoint(name=SERVING_ENDPOINT, fn=serve, input_signature=signature(len(NUMERIC_FEATURES)))
    metadata = {
        "feature_spec_version": FEATURE_SPEC_VERSION,
        "numeric_features": list(NUMERIC_FEATURES),
        "heads": list(HEADS),
    }
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / SAVED_MODEL_DIR
        archive.write_out(str(path), verbose=False)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive_zip:
            archive_zip.writestr(METADATA_FILE, json.dumps(metadata))
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    archive_zip.write(file, file.relative_to(directory).as_posix())
    return buffer.getvalue()
