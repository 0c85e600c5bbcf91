"""k's maximum from the served model: GATEWAY_MAX_K unset takes the model's k, a different one
refuses the start, an unknown one (Triton not answering yet) keeps the configured or default k
and /readyz checks it later. The edge stubbed: Triton's model-config answer (a real
ModelConfig message, as tritonclient returns it). The real tritonserver:
tests/integration/test_gateway.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
from tritonclient.grpc import model_config_pb2, service_pb2

from services.ensemble.contract import EXPLAIN_OUTPUT, OUTPUTS
from services.gateway.core import readiness
from services.gateway.core.answer_size import (
    AnswerSizeMismatch,
    answer_size_of,
    with_served_answer_size,
)
from services.gateway.core.config import DEFAULT_MAX_K, Settings
from services.gateway.core.triton import ModelState
from tests.unit.gateway.stubs import StubOnlineStore, StubRecommender


def config_answer(k: int) -> service_pb2.ModelConfigResponse:
    """The model-config answer of an executor model exported with answer size k (-1: an export
    from before k was written)."""
    ids, scores, fallback = OUTPUTS
    outputs = [
        model_config_pb2.ModelOutput(name=ids, data_type=model_config_pb2.TYPE_INT32, dims=[k]),
        model_config_pb2.ModelOutput(name=scores, data_type=model_config_pb2.TYPE_FP32, dims=[k]),
        model_config_pb2.ModelOutput(name=fallback, data_type=model_config_pb2.TYPE_BOOL, dims=[1]),
        model_config_pb2.ModelOutput(
            name=EXPLAIN_OUTPUT, data_type=model_config_pb2.TYPE_STRING, dims=[1]
        ),
    ]
    config = model_config_pb2.ModelConfig(name="executor_model", output=outputs)
    return service_pb2.ModelConfigResponse(config=config)


@dataclass
class FakeTriton:
    """One replica's answers to the two calls the gateway makes at start."""

    k: int | None = 10
    """The exported k; None: the model is not ready."""
    down: bool = False
    closed: bool = False
    asked: list[str] = field(default_factory=list)

    async def is_model_ready(self, model_name: str, client_timeout: Any = None) -> bool:
        self.asked.append(model_name)
        if self.down:
            raise ConnectionError("failed to connect to all addresses")
        return self.k is not None

    async def get_model_config(self, model_name: str, client_timeout: Any = None) -> Any:
        assert self.k is not None
        return config_answer(self.k)

    async def close(self) -> None:
        self.closed = True


def resolve(*replicas: FakeTriton, **settings: Any) -> Settings:
    return asyncio.run(with_served_answer_size(Settings(**settings), list(replicas)))


def test_the_config_says_k() -> None:
    assert answer_size_of(config_answer(7).config) == 7
    assert answer_size_of(config_answer(-1).config) is None  # an older export: unknown


def test_unset_max_k_takes_the_models() -> None:
    settings = resolve(FakeTriton(k=5))
    assert settings.max_k == settings.k_limit == 5


def test_a_matching_max_k_starts() -> None:
    assert resolve(FakeTriton(k=10), max_k=10).k_limit == 10


def test_a_different_max_k_refuses_the_start_with_one_line() -> None:
    with pytest.raises(AnswerSizeMismatch) as error:
        resolve(FakeTriton(k=5), max_k=10)
    message = str(error.value)
    assert "\n" not in message
    assert "GATEWAY_MAX_K=10" in message and "k=5" in message


def test_replicas_that_disagree_refuse_the_start() -> None:
    with pytest.raises(AnswerSizeMismatch, match=r"different k: \[5, 10\]"):
        resolve(FakeTriton(k=5), FakeTriton(k=10))


def test_triton_not_answering_keeps_the_configured_or_default_k() -> None:
    assert resolve(FakeTriton(down=True)).k_limit == DEFAULT_MAX_K
    assert resolve(FakeTriton(down=True), max_k=4).k_limit == 4
    assert resolve(FakeTriton(k=None), max_k=4).k_limit == 4  # model not ready yet
    assert resolve(FakeTriton(k=-1)).k_limit == DEFAULT_MAX_K  # config without k


def test_the_replicas_that_answer_decide() -> None:
    assert resolve(FakeTriton(down=True), FakeTriton(k=6)).k_limit == 6


def test_a_hung_replica_is_given_the_request_timeout() -> None:
    class Hung(FakeTriton):
        async def is_model_ready(self, model_name: str, client_timeout: Any = None) -> bool:
            await asyncio.sleep(10)
            return True

    assert resolve(Hung(), request_timeout_s=0.05).k_limit == DEFAULT_MAX_K


def readiness_problems(k: int | None, max_k: int) -> list[str]:
    model = StubRecommender(state=ModelState(ready=True, build_id="b1", answer_size=k))
    report = asyncio.run(
        readiness.check(model, StubOnlineStore(held_build="b1"), timeout_s=1, max_k=max_k)
    )
    return report.problems


def test_readiness_flags_a_model_whose_k_differs() -> None:
    """A gateway started before Triton said (on the default), or a model changed since."""
    assert readiness_problems(10, 10) == []
    assert readiness_problems(None, 10) == []  # an older export: nothing to compare
    assert readiness_problems(5, 10) == [
        "triton: the model answers k=5, the gateway serves k up to 10 "
        "(restart the gateway, or set GATEWAY_MAX_K to match)"
    ]
