"""The gateway's only view of Triton: one asyncio gRPC channel and the executor's contract."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics

INPUT = "user_id"
OUTPUTS = ("ordered_ids", "ordered_scores", "fallback")


RECONNECT_FAST = [
    # gRPC's default backoff grows to minutes while Triton is down; cap it so the gateway answers
    # again within about a second of Triton's return, without a restart.
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 10_000),
]


class TritonUnavailable(Exception):
    """Triton did not answer in time or cannot be reached: worth retrying later."""


class TritonFailed(Exception):
    """Triton answered with an error for this request."""


@dataclass(frozen=True)
class Ranking:
    item_ids: list[int]
    scores: list[float]
    fallback: bool


class Recommender:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._client = grpcclient.InferenceServerClient(
            settings.triton_url, channel_args=RECONNECT_FAST
        )

    async def close(self) -> None:
        await self._client.close()

    async def rank(self, user_id: int) -> Ranking:
        request = grpcclient.InferInput(INPUT, [1], "INT32")
        request.set_data_from_numpy(np.array([user_id], dtype=np.int32))
        outputs = [grpcclient.InferRequestedOutput(name) for name in OUTPUTS]
        timeout = self._settings.request_timeout_s
        start = time.perf_counter()
        outcome = "ok"
        try:
            result = await asyncio.wait_for(
                self._client.infer(
                    self._settings.model_name, [request], outputs=outputs, client_timeout=timeout
                ),
                timeout,
            )
        except (TimeoutError, asyncio.TimeoutError) as exc:
            outcome = "timeout"
            raise TritonUnavailable(f"Triton did not answer within {timeout} s") from exc
        except InferenceServerException as exc:
            outcome = "unavailable" if _is_transport_error(exc) else "error"
            if outcome == "unavailable":
                raise TritonUnavailable(f"Triton unavailable: {exc.message()}") from exc
            raise TritonFailed(exc.message() or str(exc)) from exc
        finally:
            self._metrics.triton_seconds.labels(outcome).observe(time.perf_counter() - start)
        ids, scores, fallback = (result.as_numpy(name) for name in OUTPUTS)
        return Ranking(
            item_ids=[int(i) for i in ids[0]],
            scores=[float(s) for s in scores[0]],
            fallback=bool(fallback[0]),
        )

    async def ready(self) -> bool:
        try:
            return bool(
                await asyncio.wait_for(
                    self._client.is_model_ready(self._settings.model_name),
                    self._settings.ready_timeout_s,
                )
            )
        except (TimeoutError, asyncio.TimeoutError, InferenceServerException):
            return False


def _is_transport_error(exc: InferenceServerException) -> bool:
    status = (exc.status() or "").upper()
    return any(code in status for code in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"))
