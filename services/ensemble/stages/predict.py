"""Stage: a Keras SavedModel (Merlin Models) run in this process through its serving signature."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage


class PredictInProcess(Stage):
    """Columns named by `inputs` (model input -> column) -> the model's output in `output`.

    `inputs` must name every input of the model's serving signature (checked at load).
    """

    def __init__(
        self, source: Path | None, artifact: str, inputs: Mapping[str, str], output: str
    ) -> None:
        super().__init__(
            reads=tuple(inputs.values()),
            writes={output: (np.float32, PER_USER_LIST)},
            source=source,
        )
        self.artifact = artifact
        self.inputs = dict(inputs)
        self.output = output

    @property
    def label(self) -> str:
        return f"Predict[{self.artifact}]"

    def load(self, path: Path) -> Any:
        session, predict, takes = load_signature(path)
        self.check_loaded("the model's signature", takes, sorted(self.inputs))
        return session, predict, takes

    def run(self, columns: Columns) -> Columns:
        _, predict, takes = self.state
        inputs = [columns[self.inputs[name]].reshape(-1).astype(np.int32) for name in takes]
        return {self.output: np.asarray(predict(*inputs), dtype=np.float32)}


def load_signature(path: Path) -> tuple[Any, Any, list[str]]:
    """(session, callable, its input names sorted) of the SavedModel at `path`: its serving
    signature's graph run by a TF1 session, numpy in, numpy out (the first output).

    Not the eager `model.signatures[...]` call: with TensorFlow 2.12 on Python 3.11 every
    EagerTensor created from Python leaks a small block (TF issues #60131, #62551), about
    1.4 kB per request over both models; a session creates no Python tensor objects. Keep it
    so: no eager TensorFlow call on the request path.
    """
    import tensorflow as tf  # the graph's ops are TensorFlow's own: no merlin.models import
    from tensorflow.core.protobuf import config_pb2

    from services.ensemble.settings import EnsembleSettings

    threads = EnsembleSettings().threads_per_instance
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialized (another model loaded first): keep it
        pass
    graph = tf.Graph()
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=threads, inter_op_parallelism_threads=threads
    )
    session = tf.compat.v1.Session(graph=graph, config=config)
    with graph.as_default():
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, [tf.saved_model.SERVING], str(path)
        )
    signature = meta_graph.signature_def["serving_default"]
    takes = sorted(signature.inputs)
    output = signature.outputs[sorted(signature.outputs)[0]].name
    # A callable made from options runs the step straight from numpy (TF_SessionRunCallable);
    # `make_callable` with a feed list falls back to `Session.run`, whose Python checks of
    # every feed cost more than the small model itself (0.35-0.45 ms a call on 2 cores: the
    # query tower for one user 0.16 vs 0.49 ms, the DLRM on 100 candidates 0.35 vs 0.79 ms).
    options = config_pb2.CallableOptions(
        feed=[signature.inputs[name].name for name in takes], fetch=[output]
    )
    step = session._make_callable_from_options(options)

    def predict(*inputs: NDArray[np.int32]) -> NDArray[np.float32]:
        (result,) = step(*inputs)
        return result  # type: ignore[no-any-return]

    return session, predict, takes
