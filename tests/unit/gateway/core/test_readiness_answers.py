"""Readiness reflects the model: a replica Triton calls ready is ready only while its model
returns rankings (from requests or, idle, from probes); the record costs one store per call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from services.gateway.core import readiness
from services.gateway.core.readiness import NOT_ANSWERING, PROBE_USER_ID, ModelAnswers
from services.gateway.core.replicas import READY, ReplicaState
from services.gateway.core.triton import ModelState, Ranking
from tests.unit.gateway.stubs import StubOnlineStore, StubRecommender, failed, unavailable


@dataclass
class FakeClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Model(StubRecommender):
    """A replica whose inferences hang past any timeout while `hung`, else answer at once."""

    hung: bool = False
    explained: list[bool] = field(default_factory=list)

    async def rank(
        self,
        user_id: int,
        timeout_s: float | None = None,
        version: int | None = None,
        explain: bool = False,
    ) -> Ranking:
        await asyncio.sleep(0)  # a real call always yields to the event loop
        self.calls.append(user_id)
        self.explained.append(explain)
        if self.hung:
            async with asyncio.timeout(timeout_s):
                await asyncio.sleep(60)
        if self.failure is not None:
            raise self.failure
        return self.ranking


@dataclass
class Replicas:
    states: list[ReplicaState]

    async def replica_states(self, timeout_s: float) -> list[ReplicaState]:
        return self.states


@dataclass
class Answering:
    replicas: set[int]
    by_standby: set[int] = field(default_factory=set)

    def answering(self, replica: int) -> bool:
        return replica in self.replicas

    def standby(self, replica: int) -> bool:
        return replica in self.by_standby


def report(
    states: list[str], answering: set[int], by_standby: frozenset[int] = frozenset()
) -> readiness.Report:
    model = Replicas([ReplicaState(index, state, "b1") for index, state in enumerate(states)])
    answers = Answering(answering, set(by_standby))
    check = readiness.check(model, StubOnlineStore(held_build="b1"), 1, answers)
    return asyncio.run(check)


def test_a_replica_answered_by_the_standby_is_ready_and_says_so() -> None:
    found = report([READY], answering={0}, by_standby=frozenset({0}))
    assert found.problems == []
    assert [s.state for s in found.replicas] == [readiness.STANDBY_ANSWERS]


def test_the_record_says_whether_the_last_ranking_was_the_standbys() -> None:
    answers = ModelAnswers([StubRecommender()], probe_s=0.2, timeout_s=0.5, clock=FakeClock())
    answers.record(0, standby=True)
    assert answers.answering(0) and answers.standby(0)
    answers.record(0)
    assert not answers.standby(0)


def test_a_ready_model_that_does_not_answer_is_not_ready() -> None:
    found = report([READY], answering=set())
    assert found.problems == ["triton: model does not answer"]
    assert [s.state for s in found.replicas] == [NOT_ANSWERING]


def test_one_answering_replica_is_enough() -> None:
    found = report([READY, READY], answering={1})
    assert found.problems == []
    assert [s.state for s in found.replicas] == [NOT_ANSWERING, READY]


def test_triton_s_own_word_comes_first() -> None:
    assert report(["model not ready"], answering=set()).problems == ["triton: model not ready"]
    assert report(["unreachable"], answering={0}).problems == ["triton: unreachable"]


def test_an_answer_counts_for_probe_plus_timeout_seconds() -> None:
    clock = FakeClock()
    answers = ModelAnswers([Model(), Model()], probe_s=0.2, timeout_s=0.5, clock=clock)
    assert not answers.answering(0)  # never answered
    answers.record(0)
    clock.now += 0.69
    assert answers.answering(0) and not answers.answering(1)
    clock.now += 0.02
    assert not answers.answering(0)
    answers.record(0)
    assert answers.answering(0)


def test_the_clients_record_rankings_only_and_pass_explain_on() -> None:
    clock = FakeClock()
    model = Model()
    answers = ModelAnswers([model], probe_s=0.2, timeout_s=0.5, clock=clock)
    client = answers.clients[0]

    async def calls() -> None:
        await client.rank(7, 0.5, None, explain=True)
        clock.now += 10
        for failure in (unavailable("timeout"), failed()):
            model.failure = failure
            try:
                await client.rank(7)
            except type(failure):
                pass

    asyncio.run(calls())
    assert model.explained == [True, False, False]
    assert answers.silent_s(0) == 10  # the failures did not count as answers


def probed(model: Model, run: Callable[[ModelAnswers], object]) -> object:
    """run(answers) inside the event loop with the probes started (probe 0.05 s, timeout 0.1 s)."""

    async def body() -> object:
        answers = ModelAnswers([model], probe_s=0.05, timeout_s=0.1)
        answers.start()
        try:
            result = run(answers)
            return await result if asyncio.iscoroutine(result) else result
        finally:
            await answers.close()

    return asyncio.run(body())


async def seconds_until(condition: Callable[[], bool], within_s: float = 2.0) -> float:
    """Seconds until condition() holds; fails past within_s."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while not condition():
        assert loop.time() - began < within_s, f"not within {within_s} s"
        await asyncio.sleep(0.005)
    return loop.time() - began


def test_an_idle_model_that_stops_answering_shows_within_probe_plus_timeout() -> None:
    model = Model()

    async def run(answers: ModelAnswers) -> tuple[float, float]:
        await seconds_until(lambda: answers.answering(0), within_s=0.05)  # probed at once
        model.hung = True
        silent_after = await seconds_until(lambda: not answers.answering(0))
        model.hung = False
        return silent_after, await seconds_until(lambda: answers.answering(0))

    silent_after, back_after = probed(model, run)  # type: ignore[misc]
    assert silent_after <= 0.15 + 0.05  # fresh_s, and the loop's own slack
    assert back_after <= 0.15 + 0.05  # the hung probe's timeout, then the next probe
    assert set(model.calls) == {PROBE_USER_ID}


def test_traffic_keeps_the_record_fresh_without_probes() -> None:
    model = Model()

    async def run(answers: ModelAnswers) -> None:
        await asyncio.sleep(0.02)
        model.calls.clear()
        for _ in range(30):  # a request every 10 ms for 0.3 s
            await answers.clients[0].rank(5)
            await asyncio.sleep(0.01)

    probed(model, run)
    assert PROBE_USER_ID not in model.calls
    assert len(model.calls) == 30


def test_failing_probes_are_spaced_not_spun() -> None:
    model = Model(failure=unavailable())

    async def run(answers: ModelAnswers) -> bool:
        await asyncio.sleep(0.3)
        return answers.answering(0)

    assert probed(model, run) is False
    assert 4 <= len(model.calls) <= 8  # one per 0.05 s


def test_readyz_names_a_model_that_does_not_answer(
    make_client: Callable[..., TestClient], recommender: StubRecommender
) -> None:
    recommender.state = ModelState(ready=True, build_id="build-1")
    client = make_client()
    client.app.state.answers = Answering(replicas=set())  # type: ignore[attr-defined]
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["problems"] == ["triton: model does not answer"]
    assert response.json()["replicas"] == [{"replica": 0, "state": NOT_ANSWERING}]
    client.app.state.answers = Answering(replicas={0})  # type: ignore[attr-defined]
    assert client.get("/readyz").status_code == 200


def test_the_app_serves_requests_through_recording_clients() -> None:
    from services.gateway.core.config import Settings
    from services.gateway.main import create_app

    settings = Settings(triton_url="127.0.0.1:1,127.0.0.1:2", redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings)
    with TestClient(app):
        answers = app.state.answers
        assert isinstance(answers, ModelAnswers)
        assert len(answers.clients) == 2
        pool = app.state.recommender
        assert [replica.client for replica in pool._replicas] == answers.clients
