"""Readiness: at least one Triton replica serves the model, Redis answers, and Redis holds the
build the ready replicas serve."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from services.ensemble.contract import ONLINE_BUILD_KEY
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.replicas import READY, ReplicaState

logger = logging.getLogger("services.gateway.readiness")
T = TypeVar("T")


class ModelSource(Protocol):
    async def replica_states(self, timeout_s: float) -> list[ReplicaState]: ...


class BuildSource(Protocol):
    async def build_id(self) -> str | None: ...


@dataclass(frozen=True)
class Report:
    problems: list[str]
    """One short phrase per failed check, without addresses; empty when ready."""
    replicas: list[ReplicaState]


async def check(model: ModelSource, store: BuildSource, timeout_s: float) -> Report:
    """The checks run concurrently, each given at most timeout_s (addresses go to the log)."""
    states, held = await asyncio.gather(
        model.replica_states(timeout_s),
        _within(store.build_id(), timeout_s),
        return_exceptions=True,
    )
    if isinstance(states, BaseException):
        raise states
    ready = [state for state in states if state.state == READY]
    found = (
        [] if ready else [f"triton: {phrase}" for phrase in dict.fromkeys(s.state for s in states)]
    )
    if isinstance(held, TimeoutError):
        found.append(f"redis: no answer within {timeout_s:g} s")
    elif isinstance(held, OnlineStoreUnavailable):
        logger.warning("readiness: %s", held)
        found.append("redis: unreachable")
    elif isinstance(held, BaseException):
        raise held
    elif held is None:
        found.append(f"redis: holds no build's online state ({ONLINE_BUILD_KEY} missing)")
    else:
        served = dict.fromkeys(s.build_id for s in ready if s.build_id not in (None, held))
        found += [f"redis: holds build {held}, the model serves build {build}" for build in served]
    return Report(problems=found, replicas=states)


async def _within(call: Awaitable[T], timeout_s: float) -> T:
    async with asyncio.timeout(timeout_s):
        return await call
