"""A python-backend model that loads in about 2 s and answers INPUT0 + 1 ("add_one"): a real
tritonserver to start, stop and kill without a build (tests/integration/test_triton_launch.py,
test_stack_supervisor.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

NAME = "add_one"

CONFIG = """
name: "add_one"
backend: "python"
max_batch_size: 0
input [ { name: "INPUT0", data_type: TYPE_INT32, dims: [ -1 ] } ]
output [ { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ -1 ] } ]
instance_group [ { kind: KIND_CPU, count: 1 } ]
"""

EXECUTE = """
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            out = pb_utils.Tensor("OUTPUT0", (x + 1).astype(np.int32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
"""

QUIET_MODEL = (
    """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    # writes nothing into its directory: Triton then sees the model's files as unchanged
"""
    + EXECUTE
)

REQUEST = b'{"inputs": [{"name": "INPUT0", "shape": [1], "datatype": "INT32", "data": [1]}]}'
"""One inference over HTTP (POST /v2/models/add_one/infer)."""


def make_repository(root: Path, model_source: str = QUIET_MODEL) -> Path:
    """A model repository at `root` holding add_one version 1 with `model_source` as model.py."""
    version = root / NAME / "1"
    version.mkdir(parents=True)
    (root / NAME / "config.pbtxt").write_text(textwrap.dedent(CONFIG))
    (version / "model.py").write_text(textwrap.dedent(model_source))
    return root
