"""A saved model answers as the trained one did, through both readers: serving's signature (a
TF1 session, as services/ensemble/stages/predict.py runs it) and Keras' `load_model`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import tensorflow as tf

from services.ensemble.stages.predict import load_signature
from tests.unit.training.build.test_ranking import tiny_rows, tiny_schema
from training.build import ranking, saved_model


def test_serving_and_keras_read_the_same_answers(tmp_path: Path) -> None:
    config = replace(ranking.RankingConfig(), max_epochs=1, batch_size=64)
    model = ranking.train(tiny_schema(), tiny_rows(), config).model
    rows = tiny_rows(30)
    expected = ranking.predict(model, rows)
    saved_model.save(model, tmp_path / "dlrm", "click")

    graph = tf.Graph()
    with graph.as_default():
        session = tf.compat.v1.Session(graph=graph)
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, [tf.saved_model.SERVING], str(tmp_path / "dlrm")
        )
    signature = meta_graph.signature_def["serving_default"]
    assert sorted(signature.inputs) == ["item_id", "user_id"]
    assert all(spec.dtype == tf.int32.as_datatype_enum for spec in signature.inputs.values())
    assert list(signature.outputs) == ["click"]
    served = session.run(
        signature.outputs["click"].name,
        {signature.inputs[name].name: rows[name].to_numpy() for name in signature.inputs},
    )
    np.testing.assert_allclose(served.reshape(-1), expected, rtol=1e-5)

    reloaded = tf.keras.models.load_model(tmp_path / "dlrm")
    np.testing.assert_allclose(ranking.predict(reloaded, rows), expected, rtol=1e-5)

    # serving's own reader: the step called straight from numpy gives what Session.run gives
    _, predict, takes = load_signature(tmp_path / "dlrm")
    assert takes == ["item_id", "user_id"]
    answered = predict(*[rows[name].to_numpy().astype(np.int32) for name in takes])
    np.testing.assert_array_equal(answered, served)
