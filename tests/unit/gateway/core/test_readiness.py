"""The readiness checks, beside the route: concurrent, each failure named once."""

from __future__ import annotations

import asyncio

from services.gateway.core import readiness
from services.gateway.core.triton import ModelState
from tests.unit.gateway.stubs import StubOnlineStore, StubRecommender


def problems(model: ModelState, held: str | None) -> list[str]:
    report = asyncio.run(
        readiness.check(StubRecommender(state=model), StubOnlineStore(held_build=held), timeout_s=1)
    )
    return report.problems


def test_matching_build_is_ready() -> None:
    assert problems(ModelState(True, "b1"), "b1") == []


def test_mismatch_names_both_builds() -> None:
    assert problems(ModelState(True, "b2"), "b1") == [
        "redis: holds build b1, the model serves build b2"
    ]


def test_model_not_ready_skips_the_build_comparison() -> None:
    assert problems(ModelState(False, None), "b1") == ["triton: model not ready"]


def test_checks_run_concurrently() -> None:
    class Slow(StubRecommender):
        async def model_state(self) -> ModelState:
            await asyncio.sleep(0.2)
            return ModelState(True, "b1")

    class SlowStore(StubOnlineStore):
        async def build_id(self) -> str | None:
            await asyncio.sleep(0.2)
            return "b1"

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert (await readiness.check(Slow(), SlowStore(), timeout_s=1)).problems == []
        return loop.time() - start

    assert asyncio.run(timed()) < 0.35


def test_a_hung_check_fails_within_the_timeout() -> None:
    class Hung(StubOnlineStore):
        async def build_id(self) -> str | None:
            await asyncio.sleep(10)
            return None

    found = asyncio.run(readiness.check(StubRecommender(), Hung(), timeout_s=0.05)).problems
    assert found == ["redis: no answer within 0.05 s"]
