"""The standby model answers while the executor cannot: the gateway's side (core/standby.py).

A stub gRPC client stands in for Triton here, to test the choice fast; the real processes are
killed in tests/integration/test_standby.py."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from services.ensemble.contract import MODEL_NAME, STANDBY_MODEL_NAME
from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.triton import Ranking, Recommender, TritonUnavailable

EXECUTOR_IDS, STANDBY_IDS = [1, 2, 3], [7, 8, 9]


class Result:
    def __init__(self, ids: list[int]) -> None:
        self.outputs = {
            "ordered_ids": np.array([ids], dtype=np.int32),
            "ordered_scores": np.zeros((1, len(ids)), dtype=np.float32),
            "fallback": np.array([[False]]),
        }

    def get_response(self) -> Any:
        return SimpleNamespace(model_version="3")

    def as_numpy(self, name: str) -> Any:
        return self.outputs.get(name)


class Triton:
    """The executor as `executor` says (ok, unavailable, hung); the standby as `standby`."""

    def __init__(self, executor: str = "ok", standby: str = "ok") -> None:
        self.behaviour = {MODEL_NAME: executor, STANDBY_MODEL_NAME: standby}
        self.calls: list[str] = []

    async def infer(self, model: str, *args: Any, **kwargs: Any) -> Result:
        self.calls.append(model)
        behaviour = self.behaviour[model]
        if behaviour == "hung":
            await asyncio.sleep(10)
        if behaviour == "unavailable":
            raise InferenceServerException("Stub process is not healthy.", "StatusCode.INTERNAL")
        return Result(EXECUTOR_IDS if model == MODEL_NAME else STANDBY_IDS)

    async def close(self) -> None:
        pass


def recommender(triton: Triton, metrics: Metrics | None = None, **settings: Any) -> Recommender:
    made = Recommender(Settings(**settings), metrics or Metrics())
    made._client = triton  # type: ignore[assignment]
    return made


def rank(triton: Triton, explain: bool = False, **settings: Any) -> Ranking:
    """One ranking from a fresh Recommender (made in the loop: its gRPC channel needs one)."""

    async def run() -> Ranking:
        return await recommender(triton, **settings).rank(1, explain=explain)

    return asyncio.run(run())


def standby_count(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value("gateway_standby_answers_total", {"reason": reason})
    return value or 0.0


def test_the_executor_answers_while_it_can() -> None:
    triton = Triton()
    ranking = rank(triton)
    assert ranking.item_ids == EXECUTOR_IDS and not ranking.standby
    assert ranking.model_version == 3 and triton.calls == [MODEL_NAME]


def test_a_failed_executor_is_answered_by_the_standby_until_a_probe_finds_it_back() -> None:
    triton, metrics = Triton(executor="unavailable"), Metrics()

    async def run() -> list[Ranking]:
        made = recommender(triton, metrics, standby_probe_s=0.05)
        held = [await made.rank(1), await made.rank(1)]
        await asyncio.sleep(0.2)  # probes fail meanwhile: still held
        held.append(await made.rank(1))
        asked = triton.calls.count(MODEL_NAME)
        triton.behaviour[MODEL_NAME] = "ok"
        await asyncio.sleep(0.1)  # the next probe answers
        back = await made.rank(1)
        await made.close()
        assert asked >= 3  # the probes: the requests themselves asked it once
        return [*held, back]

    *held, back = asyncio.run(run())
    assert all(a.standby and a.item_ids == STANDBY_IDS for a in held)
    assert all(a.model_version is None for a in held)  # the standby follows the served one
    assert not back.standby and back.item_ids == EXECUTOR_IDS
    assert standby_count(metrics, "failed") == 1 and standby_count(metrics, "held") == 2


def test_a_hung_executor_is_given_its_share_of_the_timeout_only() -> None:
    start = time.perf_counter()
    ranking = rank(Triton(executor="hung"), standby_after_s=0.1, request_timeout_s=1.0)
    assert ranking.standby and time.perf_counter() - start < 0.5


def test_when_both_fail_the_request_reports_the_executors_failure() -> None:
    with pytest.raises(TritonUnavailable) as caught:
        rank(Triton(executor="unavailable", standby="unavailable"))
    assert caught.value.outcome == "unavailable"


def test_explain_never_goes_to_the_standby() -> None:
    triton = Triton(executor="unavailable")
    with pytest.raises(TritonUnavailable):
        rank(triton, explain=True)
    assert triton.calls == [MODEL_NAME]


def test_without_a_standby_model_the_executor_alone_answers() -> None:
    triton = Triton(executor="unavailable")
    with pytest.raises(TritonUnavailable):
        rank(triton, standby_model="")
    assert triton.calls == [MODEL_NAME]
