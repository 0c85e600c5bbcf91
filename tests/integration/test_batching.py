"""Dynamic batching on a real tritonserver and real Redis: one pass for many requests.

Triton's dynamic batcher hands the executor model several requests (user_id [n, 1] each); one
pass of the stages answers all their users and the outputs are split back per request. These
tests check that a user's answer does not depend on the batch it travelled in, and that every
request of a mixed concurrent burst gets its own answer or its own error.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from loadtests.in_process import load_exported, recommend
from services.ensemble.contract import INPUT, MODEL_NAME, OUTPUTS
from training.build.artifacts import ARTIFACTS

pytestmark = pytest.mark.slow
SCORE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def users(build_dir: Path) -> np.ndarray:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return table["user_id"].to_numpy()


def infer(url: str, data: np.ndarray, datatype: str = "INT32") -> dict[str, np.ndarray]:
    client = grpcclient.InferenceServerClient(url)
    request = grpcclient.InferInput(INPUT, list(data.shape), datatype)
    request.set_data_from_numpy(data)
    result = client.infer(MODEL_NAME, [request], client_timeout=30)
    return {name: result.as_numpy(name) for name in OUTPUTS}


def as_request(user_ids: list[int]) -> np.ndarray:
    """The contract: user_id INT32 [n, 1]."""
    return np.asarray(user_ids, dtype=np.int32).reshape(-1, 1)


def assert_same_answer(got: dict[str, np.ndarray], row: int, alone: dict[str, np.ndarray]) -> None:
    assert got["ordered_ids"][row].tolist() == alone["ordered_ids"][0].tolist()
    np.testing.assert_allclose(
        got["ordered_scores"][row], alone["ordered_scores"][0], atol=SCORE_TOLERANCE
    )
    assert got["fallback"][row].tolist() == alone["fallback"][0].tolist()


def test_the_served_shapes_follow_the_batched_contract(triton, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    served = infer(triton.grpc_url, as_request([int(users[0]), -1, int(users[1])]))
    assert served["ordered_ids"].shape == (3, 10)
    assert served["ordered_scores"].shape == (3, 10)
    assert served["fallback"].shape == (3, 1)
    assert served["fallback"].reshape(-1).tolist() == [False, True, False]


def test_a_pass_over_many_users_equals_one_pass_per_user(
    model_repository: Path, redis_url: str, users: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, where the batch is exactly known: 40 users in one pass vs 40 passes."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    executor = load_exported(model_repository)
    chosen = [*users[:37].tolist(), -1, int(users.max()) + 1, int(users[5])]
    together = recommend(executor, chosen)
    for row, user in enumerate(chosen):
        assert_same_answer(together, row, recommend(executor, [user]))


def test_batched_requests_equal_unbatched_requests(triton, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Through Triton: 24 users answered one request each, sequentially (batches of one), then
    the same users sent concurrently (Triton batches them) and in one request of 24."""
    chosen = users[100:124].tolist()
    alone = {user: infer(triton.grpc_url, as_request([user])) for user in chosen}
    together = infer(triton.grpc_url, as_request(chosen))
    for row, user in enumerate(chosen):
        assert_same_answer(together, row, alone[user])
    concurrent: dict[int, dict[str, np.ndarray]] = {}

    def ask(user: int) -> None:
        concurrent[user] = infer(triton.grpc_url, as_request([user]))

    threads = [threading.Thread(target=ask, args=(user,)) for user in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(concurrent) == sorted(chosen)
    for user in chosen:
        assert_same_answer(concurrent[user], 0, alone[user])


def burst(users: np.ndarray) -> list[tuple[str, Any]]:
    """64 requests: valid ones of 1-5 users (known and unknown) and invalid ones."""
    rng = np.random.default_rng(3)
    requests: list[tuple[str, Any]] = []
    for number in range(64):
        kind = number % 8
        if kind == 3:
            requests.append(("empty", np.zeros((0, 1), dtype=np.int32)))
        elif kind == 5:
            requests.append(("wrong_shape", np.zeros((1, 2), dtype=np.int32)))
        elif kind == 6:
            requests.append(("wrong_dtype", np.zeros((1, 1), dtype=np.int64)))
        elif number == 63:
            requests.append(("too_many", np.zeros((65, 1), dtype=np.int32)))
        else:
            chosen = rng.choice(users, size=int(rng.integers(1, 6))).tolist()
            if kind == 7:
                chosen[-1] = -5  # an unknown user in a valid request: fallback, not an error
            requests.append(("valid", as_request(chosen)))
    return requests


def test_64_concurrent_mixed_requests_each_get_their_own_answer_or_error(
    triton, users: np.ndarray
) -> None:  # type: ignore[no-untyped-def]
    requests = burst(users)
    singles = {
        int(user): infer(triton.grpc_url, as_request([int(user)]))
        for kind, data in requests
        if kind == "valid"
        for user in data.reshape(-1)
    }
    stats_before = execution_counts(triton.grpc_url)
    outcomes: list[Any] = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def send(slot: int) -> None:
        kind, data = requests[slot]
        datatype = "INT64" if data.dtype == np.int64 else "INT32"
        start.wait(timeout=30)
        try:
            outcomes[slot] = infer(triton.grpc_url, data, datatype)
        except InferenceServerException as exc:
            outcomes[slot] = exc

    threads = [threading.Thread(target=send, args=(slot,)) for slot in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    for (kind, data), outcome in zip(requests, outcomes, strict=True):
        if kind != "valid":
            assert isinstance(outcome, InferenceServerException), kind
            assert outcome.status() == str(grpc.StatusCode.INVALID_ARGUMENT), (kind, outcome)
            continue
        assert isinstance(outcome, dict), outcome
        assert outcome["ordered_ids"].shape == (len(data), 10)
        for row, user in enumerate(data.reshape(-1).tolist()):
            assert_same_answer(outcome, row, singles[user])
    inferences, executions = (
        after - before
        for after, before in zip(execution_counts(triton.grpc_url), stats_before, strict=True)
    )
    assert executions < inferences  # Triton did hand the model several requests at once


def execution_counts(url: str) -> tuple[int, int]:
    """(requests answered, execute() calls) of the executor model so far."""
    stats = grpcclient.InferenceServerClient(url).get_inference_statistics(MODEL_NAME)
    model = stats.model_stats[0]
    return int(model.inference_stats.success.count), int(model.execution_count)
