"""The executor and standby models: Triton's python-backend entry point, copied as is into
each export.

Triton imports this file as `1.model` with the version folder on sys.path, where the export
put a copy of `services/ensemble`; the pickled graph in `1/ensemble` names its stages there.
Every stage runs in this process (no BLS calls to a TensorFlow backend). Triton's dynamic
batcher hands `execute` several requests (user_id INT32 [n, 1] each, batch dimension = users):
one pass of the stages answers all their users, and the outputs are split back per request
(ordered_ids INT32 [n, k], ordered_scores FP32 [n, k], fallback BOOL [n, 1]). A failed request
gets an error response of its own; the model keeps serving:

* INVALID_ARG for a request without user ids (never fails the other requests of its batch);
* UNAVAILABLE (retryable) when the online store cannot answer or does not hold this build
  (every request of that batch), logged once per outage rather than once per request;
* INTERNAL for anything else.

A request whose optional input `explain` (BOOL [n, 1]) is true is answered by a pass of its
own (`Executor.explain`) that adds the output `explanation` (BYTES [n, 1], one JSON document
per user); the other requests of the batch take the plain path, unchanged.

The standby model (its config's `follows` parameter names the executor model) runs the same
code over the standby stages of the executor's served version (services/ensemble/standby.py);
it answers `explain` requests plainly.
"""

from __future__ import annotations

import gc
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils

from services.ensemble.contract import (
    EXPLAIN_INPUT,
    EXPLAIN_OUTPUT,
    FOLLOWS_PARAMETER,
    INPUT,
    OUTPUTS,
)
from services.ensemble.executor import BadRequest, Executor, OutageLog, limit_threads
from services.ensemble.redis_store import OnlineStoreUnavailable, connect
from services.ensemble.settings import EnsembleSettings
from services.ensemble.standby import FollowedExecutor


class TritonPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        settings = EnsembleSettings()
        limit_threads(settings.threads_per_instance)
        config = json.loads(args["model_config"])
        follows = config.get("parameters", {}).get(FOLLOWS_PARAMETER, {}).get("string_value")
        self.followed: FollowedExecutor | None = None
        if follows:  # the standby model: the executor's served version's standby stages
            model_dir = Path(args["model_repository"]).parent / follows
            self.followed = FollowedExecutor(model_dir, connect(settings))
            self.followed.current()  # no version to follow: the load fails, saying why
        else:
            version_dir = Path(args["model_repository"]) / args["model_version"]
            self.fixed = Executor.from_version_dir(version_dir)
        self.output_dtypes = {
            output["name"]: pb_utils.triton_string_to_numpy(output["data_type"])
            for output in config["output"]
        }
        self.outages = OutageLog(_log)
        # the loaded graph (TensorFlow, faiss, the catalogue) lives as long as the process: out
        # of the collector's sight, a full collection scans only what requests made
        gc.collect()
        gc.freeze()

    @property
    def executor(self) -> Executor:
        return self.followed.current() if self.followed is not None else self.fixed

    def execute(self, requests: list[Any]) -> list[Any]:
        inputs = [pb_utils.get_input_tensor_by_name(request, INPUT) for request in requests]
        user_ids = [tensor.as_numpy() if tensor is not None else None for tensor in inputs]
        # the standby's stages have no tower or DLRM to explain: it answers plainly
        explain = [self.followed is None and _asks_explain(request) for request in requests]
        plain = [position for position, asks in enumerate(explain) if not asks]
        results: list[Any] = [None] * len(requests)
        try:
            answers = self.executor.answer_batch([user_ids[position] for position in plain])
        except Exception as exc:  # never expected: answer_batch returns errors per request
            answers = [exc] * len(plain)
        for position, answer in zip(plain, answers, strict=True):
            results[position] = answer
        for position in (position for position, asks in enumerate(explain) if asks):
            results[position] = self._explain(user_ids[position])
        if any(not isinstance(result, Exception) for result in results):
            self.outages.succeeded()  # an answer: the store answered this batch
        return [self._response(result) for result in results]

    def _response(self, result: dict[str, Any] | Exception) -> Any:
        if isinstance(result, BadRequest):
            return _error(str(result), pb_utils.TritonError.INVALID_ARG)
        if isinstance(result, OnlineStoreUnavailable):
            self.outages.failed(result)
            return _error(str(result), pb_utils.TritonError.UNAVAILABLE)
        if isinstance(result, Exception):  # one failed request must not take the model down
            _log(f"request failed: {type(result).__name__}: {result}")
            message = f"internal error ({type(result).__name__})"
            return _error(message, pb_utils.TritonError.INTERNAL)
        tensors = [
            pb_utils.Tensor(name, _batched(result[name]).astype(self.output_dtypes[name]))
            for name in (*OUTPUTS, EXPLAIN_OUTPUT)
            if name in result
        ]
        return pb_utils.InferenceResponse(output_tensors=tensors)

    def _explain(self, user_ids: Any) -> dict[str, Any] | Exception:
        try:
            return self.executor.explain(user_ids)
        except Exception as exc:  # mapped to the request's error like a plain request's
            return exc

    def finalize(self) -> None:
        self.fixed = self.followed = None  # type: ignore[assignment]


def _log(line: str) -> None:
    """One line in Triton's log (the stub's stderr is the server's). Not pb_utils.Logger: it
    made the failing request wait for the server, 0.25-1.2 s measured here."""
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    print(f"{stamp} {Path(__file__).parent.parent.name}: {line}", file=sys.stderr, flush=True)


def _asks_explain(request: Any) -> bool:
    """Whether the request carries the optional `explain` input set to true."""
    tensor = pb_utils.get_input_tensor_by_name(request, EXPLAIN_INPUT)
    return tensor is not None and bool(np.asarray(tensor.as_numpy()).any())


def _batched(values: Any) -> Any:
    """One row per user: [n] -> [n, 1] (Triton's batch dimension leads every output)."""
    array = np.asarray(values)
    return array.reshape(len(array), -1)


def _error(message: str, code: Any) -> Any:
    return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(message, code))
