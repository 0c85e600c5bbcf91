"""The gateway's only view of Triton: one asyncio gRPC channel and the executor's contract."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import tritonclient.grpc.aio as grpcclient
from tritonclient.utils import InferenceServerException

from services.ensemble.contract import (
    BUILD_ID_PARAMETER,
    EXPLAIN_INPUT,
    EXPLAIN_OUTPUT,
    INPUT,
    OUTPUTS,
)
from services.gateway.core.answer_size import answer_size_of
from services.gateway.core.config import Settings
from services.gateway.core.metrics import Metrics
from services.gateway.core.standby import PROBE_USER_ID, Failover
from services.gateway.core.triton_errors import TritonFailed, TritonUnavailable

logger = logging.getLogger("services.gateway.triton")

__all__ = [
    "ModelState",
    "Ranking",
    "Recommender",
    "TritonFailed",
    "TritonUnavailable",
    "outcome_of",
    "served_version",
    "version_label",
]

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
PROCESS_GONE = "is not healthy"
"""The python backend's words (status INTERNAL) for a request sent to a dead model process."""


@dataclass(frozen=True)
class Ranking:
    item_ids: list[int]
    scores: list[float]
    fallback: bool
    model_version: int | None = None
    """The version that answered (Triton's response names it), None if it named none."""
    explanation: str | None = None
    """The executor's explain document (JSON), only when asked for."""
    standby: bool = False
    """Answered by the standby model because the executor could not (core/standby.py)."""


@dataclass(frozen=True)
class ModelState:
    ready: bool
    build_id: str | None
    """The config's build_id parameter; None when the export did not record one."""
    answer_size: int | None = None
    """The config's k (ordered_ids' dims); None when it does not say (core/answer_size.py)."""


def served_version(text: str) -> int | None:
    """Triton's response's model_version ("2") as a number; None if empty or not a number."""
    return int(text) if text.isdigit() else None


def version_label(version: int | None) -> str:
    """A model version as a metrics label: its number, or `latest` when none was named."""
    return "latest" if version is None else str(version)


def _version_missing(exc: TritonUnavailable, version: int) -> bool:
    """Triton's answer to a request for a version it does not serve (the model itself may)."""
    return exc.outcome == "model_unavailable" and f"version {version}" in str(exc).lower()


def _explanation(result: grpcclient.InferResult) -> str | None:
    document = result.as_numpy(EXPLAIN_OUTPUT)
    if document is None or document.size == 0:
        return None
    value = document.reshape(-1)[0]
    return value.decode() if isinstance(value, bytes) else str(value)


def outcome_of(exc: InferenceServerException) -> str:
    """The metrics outcome of a failed call: unavailable, timeout, model_unavailable or error.
    All but `error` are retryable (503)."""
    status = (exc.status() or "").upper()
    message = (exc.message() or "").lower()
    if "UNAVAILABLE" in status or "CANCELLED" in status or PROCESS_GONE in message:
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
        self._missing_versions: set[int] = set()
        self._failover: Failover | None = None
        if settings.standby_model:
            self._failover = Failover(settings, metrics, self._probe_executor)

    async def close(self) -> None:
        if self._failover is not None:
            await self._failover.close()
        await self._client.close()

    async def rank(
        self,
        user_id: int,
        timeout_s: float | None = None,
        version: int | None = None,
        explain: bool = False,
    ) -> Ranking:
        """timeout_s: what is left of the request's budget (default: the whole timeout).
        version: the model version to ask for (None: Triton's latest). A version Triton does not
        serve (e.g. unloaded by a rollback) is answered by the latest, and logged once.
        explain: also ask for the executor's explanation (a slower pass of its own). When the
        executor cannot answer in time, the standby model does (core/standby.py; never for
        explain)."""
        timeout = timeout_s or self._settings.request_timeout_s
        if explain or self._failover is None:
            return await self._rank_executor(user_id, timeout, version, explain)
        return await self._failover.rank(
            lambda left: self._rank_executor(user_id, left, version),
            lambda left: self._rank_standby(user_id, left),
            timeout,
        )

    async def _probe_executor(self, timeout: float) -> Ranking:
        return await self._rank_executor(PROBE_USER_ID, timeout, None)

    async def _rank_standby(self, user_id: int, timeout: float) -> Ranking:
        ranking = await self._infer(user_id, timeout, None, model=self._settings.standby_model)
        return replace(ranking, model_version=None, standby=True)

    async def _rank_executor(
        self, user_id: int, timeout: float, version: int | None, explain: bool = False
    ) -> Ranking:
        start = time.perf_counter()
        try:
            return await self._infer(user_id, timeout, version, explain)
        except TritonUnavailable as exc:
            if version is None or not _version_missing(exc, version):
                raise
            self._warn_missing(version)
            left = timeout - (time.perf_counter() - start)
            if left <= 0:
                raise
            return await self._infer(user_id, left, None, explain)

    async def _infer(
        self,
        user_id: int,
        timeout: float,
        version: int | None,
        explain: bool = False,
        model: str | None = None,
    ) -> Ranking:
        request = grpcclient.InferInput(INPUT, [1, 1], "INT32")  # [users, 1]: batch dim = users
        request.set_data_from_numpy(np.array([[user_id]], dtype=np.int32))
        inputs, names = [request], list(OUTPUTS)
        if explain:  # the optional input: only then does the executor explain
            flag = grpcclient.InferInput(EXPLAIN_INPUT, [1, 1], "BOOL")
            flag.set_data_from_numpy(np.array([[True]]))
            inputs, names = [request, flag], [*OUTPUTS, EXPLAIN_OUTPUT]
        outputs = [grpcclient.InferRequestedOutput(name) for name in names]
        start = time.perf_counter()
        outcome, label = "ok", version_label(version)
        try:
            async with asyncio.timeout(timeout):
                result = await self._client.infer(
                    model or self._settings.model_name,
                    inputs,
                    model_version="" if version is None else str(version),
                    outputs=outputs,
                    client_timeout=timeout,
                )
            served = served_version(result.get_response().model_version)
            label = version_label(served)
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
            self._metrics.triton_seconds.labels(outcome, label).observe(time.perf_counter() - start)
        ids, scores, fallback = (result.as_numpy(name) for name in OUTPUTS)
        return Ranking(
            item_ids=[int(i) for i in ids[0]],
            scores=[float(s) for s in scores[0]],
            fallback=bool(fallback[0]),
            model_version=served,
            explanation=_explanation(result) if explain else None,
        )

    def _warn_missing(self, version: int) -> None:
        if version not in self._missing_versions:
            self._missing_versions.add(version)
            logger.warning(
                "model version %d is not served: its users get the latest version", version
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
        k = answer_size_of(response.config)
        return ModelState(ready=True, build_id=build_id or None, answer_size=k)
