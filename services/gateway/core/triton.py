"""The gateway's only view of Triton: one asyncio gRPC channel and the executor's contract."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from services.ensemble.contract import BUILD_ID_PARAMETER, INPUT, OUTPUTS
from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics

RECONNECT_FAST = [
    # gRPC's default backoff grows to minutes while Triton is down; cap it so the gateway answers
    # again within about a second of Triton's return, without a restart.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
]

MODEL_GONE = ("unknown model", "not ready", "no available versions", "shutting down")
"""Triton's words for a model that is unloaded, loading or going away with the server."""


class TritonUnavailable(Exception):
    """Worth retrying later: Triton unreachable, too slow, shutting down, the model missing or
    not ready, or the executor reported a retryable failure (status UNAVAILABLE, e.g. Redis
    down). The message is for the log, never for a response body."""

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class TritonFailed(Exception):
    """Triton answered with a non-retryable error for this request (log only)."""


@dataclass(frozen=True)
class Ranking:
    item_ids: list[int]
    scores: list[float]
    fallback: bool


@dataclass(frozen=True)
class ModelState:
    ready: bool
    build_id: str | None
    """The config's build_id parameter; None when the export did not record one."""


def outcome_of(exc: InferenceServerException) -> str:
    """The metrics outcome of a failed call: unavailable, timeout, model_unavailable or error.
    All but `error` are retryable (503)."""
    status = (exc.status() or "").upper()
    message = (exc.message() or "").lower()
    if "UNAVAILABLE" in status or "CANCELLED" in status:
        return "unavailable"
    if "DEADLINE_EXCEEDED" in status:
        return "timeout"
    if "NOT_FOUND" in status or any(words in message for words in MODEL_GONE):
        return "model_unavailable"
    return "error"


class Recommender:
    """One Triton replica's channel (the first configured address unless given one)."""

    def __init__(self, settings: Settings, metrics: Metrics, url: str | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._client = grpcclient.InferenceServerClient(
            url or settings.triton_urls[0], channel_args=RECONNECT_FAST
        )

    async def close(self) -> None:
        await self._client.close()

    async def rank(self, user_id: int, timeout_s: float | None = None) -> Ranking:
        """timeout_s: what is left of the request's budget (default: the whole timeout)."""
        request = grpcclient.InferInput(INPUT, [1, 1], "INT32")  # [users, 1]: batch dim = users
        request.set_data_from_numpy(np.array([[user_id]], dtype=np.int32))
        outputs = [grpcclient.InferRequestedOutput(name) for name in OUTPUTS]
        timeout = timeout_s or self._settings.request_timeout_s
        start = time.perf_counter()
        outcome = "ok"
        try:
            async with asyncio.timeout(timeout):
                result = await self._client.infer(
                    self._settings.model_name, [request], outputs=outputs, client_timeout=timeout
                )
        except TimeoutError as exc:
            outcome = "timeout"
            raise TritonUnavailable(f"no answer within {timeout} s", outcome) from exc
        except InferenceServerException as exc:
            outcome = outcome_of(exc)
            detail = f"{exc.status()}: {exc.message()}"
            if outcome == "error":
                raise TritonFailed(detail) from exc
            raise TritonUnavailable(detail, outcome) from exc
        finally:
            self._metrics.triton_seconds.labels(outcome).observe(time.perf_counter() - start)
        ids, scores, fallback = (result.as_numpy(name) for name in OUTPUTS)
        return Ranking(
            item_ids=[int(i) for i in ids[0]],
            scores=[float(s) for s in scores[0]],
            fallback=bool(fallback[0]),
        )

    async def model_state(self) -> ModelState:
        """Readiness and served build of the model; TritonUnavailable if Triton cannot say."""
        name, timeout = self._settings.model_name, self._settings.ready_timeout_s
        try:
            async with asyncio.timeout(timeout):
                if not await self._client.is_model_ready(name, client_timeout=timeout):
                    return ModelState(ready=False, build_id=None)
                response = await self._client.get_model_config(name, client_timeout=timeout)
        except TimeoutError as exc:
            raise TritonUnavailable(f"no answer within {timeout} s", "timeout") from exc
        except InferenceServerException as exc:
            raise TritonUnavailable(f"{exc.status()}: {exc.message()}", outcome_of(exc)) from exc
        parameter = response.config.parameters.get(BUILD_ID_PARAMETER)
        build_id = parameter.string_value if parameter is not None else None
        return ModelState(ready=True, build_id=build_id or None)
