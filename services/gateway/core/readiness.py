"""Readiness: Triton serves the model, Redis answers, and Redis holds the model's build."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol, TypeVar

from services.ensemble.contract import ONLINE_BUILD_KEY
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.triton import ModelState, TritonUnavailable

logger = logging.getLogger("services.gateway.readiness")
T = TypeVar("T")


class ModelSource(Protocol):
    async def model_state(self) -> ModelState: ...


class BuildSource(Protocol):
    async def build_id(self) -> str | None: ...


async def problems(model: ModelSource, store: BuildSource, timeout_s: float) -> list[str]:
    """What keeps the gateway from answering well, one short phrase per failed check, without
    addresses (they go to the log); empty when ready. The checks run concurrently, each given
    at most timeout_s."""
    state, held = await asyncio.gather(
        _within(model.model_state(), timeout_s),
        _within(store.build_id(), timeout_s),
        return_exceptions=True,
    )
    found: list[str] = []
    if isinstance(state, TimeoutError):
        found.append(f"triton: no answer within {timeout_s:g} s")
    elif isinstance(state, TritonUnavailable):
        logger.warning("readiness: Triton unavailable: %s", state)
        found.append("triton: unreachable")
    elif isinstance(state, BaseException):
        raise state
    elif not state.ready:
        found.append("triton: model not ready")
    if isinstance(held, TimeoutError):
        found.append(f"redis: no answer within {timeout_s:g} s")
    elif isinstance(held, OnlineStoreUnavailable):
        logger.warning("readiness: %s", held)
        found.append("redis: unreachable")
    elif isinstance(held, BaseException):
        raise held
    elif held is None:
        found.append(f"redis: holds no build's online state ({ONLINE_BUILD_KEY} missing)")
    elif isinstance(state, ModelState) and state.ready and state.build_id not in (None, held):
        found.append(f"redis: holds build {held}, the model serves build {state.build_id}")
    return found


async def _within(check: Awaitable[T], timeout_s: float) -> T:
    async with asyncio.timeout(timeout_s):
        return await check
