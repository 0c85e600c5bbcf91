"""Triton python-backend model serving the graph in-process (the executor model).

Unlike merlin-systems' stock executor, it runs every stage in this process (no BLS calls to a
TensorFlow backend), limits TensorFlow and faiss to one thread per instance (Triton runs one
process per instance: the instances share the cores), and turns any failure into an error
response for that request only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

THREADS_PER_INSTANCE = "1"


def _limit_threads() -> None:
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, THREADS_PER_INSTANCE)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(THREADS_PER_INSTANCE))
        tf.config.threading.set_inter_op_parallelism_threads(int(THREADS_PER_INSTANCE))
    except RuntimeError:  # already initialized by an earlier import: keep what it has
        pass


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        _limit_threads()
        from services.ensemble.contract import OUTPUTS
        from services.ensemble.graph import load_exported

        repository = Path(args["model_repository"]).parent
        self.ensemble = load_exported(repository, args["model_name"], args["model_version"])
        self.outputs = OUTPUTS
        config = json.loads(args["model_config"])
        self.output_dtypes = {
            out["name"]: pb_utils.triton_string_to_numpy(out["data_type"])
            for out in config["output"]
        }

    def execute(self, requests: list[Any]) -> list[Any]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Any) -> Any:
        from merlin.table import TensorTable

        tensor = pb_utils.get_input_tensor_by_name(request, "user_id")
        user_ids = tensor.as_numpy().reshape(-1) if tensor is not None else np.zeros(0)
        if user_ids.size == 0:
            return _error("user_id must hold at least one user id")
        try:
            result = self.ensemble.transform(TensorTable({"user_id": user_ids.astype(np.int32)}))
            tensors = [
                pb_utils.Tensor(
                    name, np.asarray(result[name].values).astype(self.output_dtypes[name])
                )
                for name in self.outputs
            ]
        except Exception as exc:  # one failed request must not take the model down
            return _error(f"{type(exc).__name__}: {exc}")
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def finalize(self) -> None:
        self.ensemble = None


def _error(message: str) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message))
