"""Triton's failures sorted into retryable (503) and not (502), as Triton 2.51 words them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tritonclient.utils import InferenceServerException

from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.triton import (
    Recommender,
    TritonFailed,
    TritonUnavailable,
    outcome_of,
)


@pytest.mark.parametrize(
    ("status", "message", "outcome"),
    [
        # seen from tritonserver 2.51: shutting down, unloaded, unknown
        (
            "StatusCode.NOT_FOUND",
            "Request for unknown model: 'm' has no available versions",
            "model_unavailable",
        ),
        (
            "StatusCode.NOT_FOUND",
            "Request for unknown model: 'm' is not found",
            "model_unavailable",
        ),
        ("StatusCode.INTERNAL", "model 'm' is not ready", "model_unavailable"),
        # the executor's retryable error (Redis down) and a dead channel
        ("StatusCode.UNAVAILABLE", "online store unavailable", "unavailable"),
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", "unavailable"),
        ("StatusCode.CANCELLED", "Cancelled", "unavailable"),
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", "timeout"),
        ("StatusCode.INTERNAL", "KeyError: 'item_category'", "error"),
        ("StatusCode.INVALID_ARGUMENT", "unexpected shape", "error"),
        (None, "no status", "error"),
    ],
)
def test_outcome_of(status: str | None, message: str, outcome: str) -> None:
    assert outcome_of(InferenceServerException(message, status=status)) == outcome


class FailingClient:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def infer(self, *args: Any, **kwargs: Any) -> None:
        raise self.exc

    async def close(self) -> None:
        pass


def rank_with(exc: Exception) -> tuple[Exception, Metrics]:
    metrics = Metrics()

    async def run() -> Exception:
        recommender = Recommender(Settings(standby_model=""), metrics)  # the executor alone
        recommender._client = FailingClient(exc)  # type: ignore[assignment]
        with pytest.raises((TritonUnavailable, TritonFailed)) as error:
            await recommender.rank(1)
        return error.value

    return asyncio.run(run()), metrics


def count(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "gateway_triton_call_seconds_count", {"outcome": outcome, "model_version": "latest"}
    )
    return value or 0.0


def test_unavailable_status_raises_retryable_and_is_counted() -> None:
    error, metrics = rank_with(InferenceServerException("redis down", "StatusCode.UNAVAILABLE"))
    assert isinstance(error, TritonUnavailable) and error.outcome == "unavailable"
    assert count(metrics, "unavailable") == 1


def test_unknown_model_raises_retryable() -> None:
    error, metrics = rank_with(
        InferenceServerException("Request for unknown model", "StatusCode.NOT_FOUND")
    )
    assert isinstance(error, TritonUnavailable) and error.outcome == "model_unavailable"
    assert count(metrics, "model_unavailable") == 1


def test_a_dead_model_process_is_retryable() -> None:
    message = "Failed to process the request(s) for model instance 'executor_model_0_0', "
    message += "message: Stub process 'executor_model_0_0' is not healthy."
    error, _ = rank_with(InferenceServerException(message, "StatusCode.INTERNAL"))
    assert isinstance(error, TritonUnavailable) and error.outcome == "unavailable"


def test_other_errors_raise_failed() -> None:
    error, metrics = rank_with(InferenceServerException("KeyError", "StatusCode.INTERNAL"))
    assert isinstance(error, TritonFailed)
    assert count(metrics, "error") == 1


def test_a_hung_call_times_out() -> None:
    class Hung(FailingClient):
        async def infer(self, *args: Any, **kwargs: Any) -> None:
            await asyncio.sleep(10)

    metrics = Metrics()

    async def run() -> None:
        recommender = Recommender(Settings(request_timeout_s=0.05, standby_model=""), metrics)
        recommender._client = Hung(RuntimeError())  # type: ignore[assignment]
        with pytest.raises(TritonUnavailable):
            await recommender.rank(1)

    asyncio.run(run())
    assert count(metrics, "timeout") == 1
