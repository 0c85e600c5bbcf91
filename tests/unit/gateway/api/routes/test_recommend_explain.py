"""GET /recommend?explain=true in process: the explanation passes through typed; the status
codes stay those of the plain answer; plain answers carry no explanation; with an API key set,
explain needs it and the plain answer does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.gateway.core.triton import Ranking
from tests.unit.gateway.stubs import StubRecommender, failed, unavailable

KEY = "k3y-for-tests-0123456789"
ITEM = {"item_id": 100, "found": True, "category": 3, "shop": 7, "brand": 9}
DOCUMENT: dict[str, Any] = {
    "user_id": 42,
    "fallback": False,
    "user_features": {"found": True, "values": {"user_age": 3}},
    "past_items": [{**ITEM, "item_id": 5}],
    "sources": [
        {"name": "two_tower", "candidates": [{"item_id": 100, "score": 0.9}]},
        {
            "name": "second_source",
            "candidates": [{"item_id": 5, "score": 2.0, "origin": "co-clicked"}],
        },
    ],
    "filter": {"removed": [{"item_id": 5, "source": "co-clicked", "reason": "seen"}]},
    "merged": [{"item_id": 100, "source": "two_tower"}],
    "ranking": [{**ITEM, "score": 0.5}],
    "category_cap": {"max_per_category": 0, "skipped": []},
    "final": [{**ITEM, "score": 0.5}],
    "timings_ms": [{"stage": "OrderByScore", "ms": 0.1}],
    "explain_ms": 1.5,
}


class ExplainingRecommender(StubRecommender):
    """The stub, answering explain requests with `document` (the edge: Triton's output)."""

    document: str | None = json.dumps(DOCUMENT)
    explained: list[bool]

    async def rank(self, user_id: int, *args: Any, explain: bool = False, **kwargs: Any) -> Ranking:
        self.explained = [*getattr(self, "explained", []), explain]
        ranking = await super().rank(user_id)
        return replace(ranking, explanation=self.document if explain else None)


@pytest.fixture()
def recommender() -> ExplainingRecommender:
    return ExplainingRecommender()


def test_explain_adds_the_typed_explanation(
    client: TestClient, recommender: ExplainingRecommender
) -> None:
    body = client.get("/recommend", params={"user_id": 42, "explain": "true"}).json()
    assert body["explain"]["filter"]["removed"] == DOCUMENT["filter"]["removed"]
    assert body["explain"]["final"][0]["category"] == 3
    assert len(body["items"]) == 10 and recommender.explained == [True]


def test_plain_answers_have_no_explanation_and_do_not_ask_for_one(
    client: TestClient, recommender: ExplainingRecommender
) -> None:
    for params in ({"user_id": 42}, {"user_id": 42, "explain": "false"}):
        assert "explain" not in client.get("/recommend", params=params).json()
    assert recommender.explained == [False, False]


@pytest.mark.parametrize("document", [None, "{}", "not json"])
def test_a_missing_or_unreadable_explanation_is_a_502(
    client: TestClient, recommender: ExplainingRecommender, document: str | None
) -> None:
    recommender.document = document
    response = client.get("/recommend", params={"user_id": 42, "explain": "true"})
    assert response.status_code == 502 and "explanation" in response.json()["detail"]


@pytest.mark.parametrize(("failure", "code"), [(None, 200), (unavailable(), 503), (failed(), 502)])
@pytest.mark.parametrize("user_id", ["42", "abc", str(2**31)])
def test_explain_gives_the_plain_status_codes(
    client: TestClient,
    recommender: ExplainingRecommender,
    failure: Exception | None,
    code: int,
    user_id: str,
) -> None:
    recommender.failure = failure
    expected = code if user_id == "42" else 422
    for params in ({"user_id": user_id}, {"user_id": user_id, "explain": "true"}):
        assert client.get("/recommend", params=params).status_code == expected
    assert client.get("/recommend", params={"user_id": "1", "explain": "maybe"}).status_code == 422


@pytest.mark.parametrize(
    ("headers", "word"),
    [
        ({}, "required"),
        ({"X-API-Key": "wrong"}, "not valid"),
        ({"Authorization": "Bearer x"}, "not valid"),
    ],
)
def test_with_a_key_set_explain_without_it_is_a_401_before_the_model_is_asked(
    make_client: Callable[..., TestClient],
    recommender: ExplainingRecommender,
    headers: dict[str, str],
    word: str,
) -> None:
    client = make_client(api_key=KEY)
    response = client.get("/recommend", params={"user_id": 42, "explain": "true"}, headers=headers)
    assert response.status_code == 401 and word in response.json()["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "explain" not in response.text and recommender.calls == []


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_with_a_key_set_explain_with_it_answers(
    make_client: Callable[..., TestClient],
    recommender: ExplainingRecommender,
    headers: dict[str, str],
) -> None:
    client = make_client(api_key=KEY)
    response = client.get("/recommend", params={"user_id": 42, "explain": "true"}, headers=headers)
    assert response.status_code == 200 and response.json()["explain"]["user_id"] == 42
    assert recommender.explained == [True]


def test_with_a_key_set_the_plain_answer_stays_open(
    make_client: Callable[..., TestClient], recommender: ExplainingRecommender
) -> None:
    client = make_client(api_key=KEY)
    for params in ({"user_id": "42"}, {"user_id": "42", "explain": "false"}):
        response = client.get("/recommend", params=params)
        assert response.status_code == 200 and "explain" not in response.json()
    assert recommender.explained == [False, False]
