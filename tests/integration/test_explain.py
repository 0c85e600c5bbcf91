"""The explain view against the graph's own stage outputs, on a real Triton with rules.

The served repository denies items the users' own Two-Tower lists hold and caps categories at
two: so the filter has past items and denied items to remove, and the cap has work to do. The
same graph runs in this process too, keeping every stage's column, to check each part of the
explanation against what the stages really wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.grpc as grpcclient

from services.ensemble.contract import (
    EXPLAIN_INPUT,
    EXPLAIN_OUTPUT,
    INPUT,
    MODEL_NAME,
    OUTPUTS,
)
from services.ensemble.rules import Rules
from tests.conftest import Gateway, free_port, serving
from training.build.artifacts import ARTIFACTS

pytestmark = pytest.mark.slow
UNKNOWN_USER = 2_000_000_000
CAP = 2


def infer(url: str, users: list[int], explain: bool | None) -> dict[str, Any]:
    """One request; `explain` None sends no explain input at all (a plain request)."""
    client = grpcclient.InferenceServerClient(url)
    inputs = [grpcclient.InferInput(INPUT, [len(users), 1], "INT32")]
    inputs[0].set_data_from_numpy(np.asarray(users, dtype=np.int32).reshape(-1, 1))
    if explain is not None:
        inputs.append(grpcclient.InferInput(EXPLAIN_INPUT, [len(users), 1], "BOOL"))
        inputs[1].set_data_from_numpy(np.full((len(users), 1), explain))
    result = client.infer(MODEL_NAME, inputs)
    answer: dict[str, Any] = {name: result.as_numpy(name) for name in OUTPUTS}
    explanation = result.as_numpy(EXPLAIN_OUTPUT)
    if explanation is not None:
        answer["documents"] = [json.loads(doc) for doc in explanation.reshape(-1)]
    return answer


def stage_columns(executor: Any, users: list[int]) -> dict[str, np.ndarray]:
    """Every column of one pass of the graph's stages (the graph's names, graph.py)."""
    columns = {INPUT: np.asarray(users, dtype=np.int32)}
    for stage in executor.stages:
        columns.update(stage.run(columns))
    return columns


@pytest.fixture(scope="module")
def in_process(model_repository: Path, redis_url: str) -> Iterator[Any]:
    from loadtests.in_process import load_exported

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDIS_URL", redis_url)
        yield load_exported(model_repository)


@pytest.fixture(scope="module")
def users(build_dir: Path, in_process: Any) -> list[int]:
    """Known users with the most past items (the tower's list holds some of them)."""
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    sample = [int(user) for user in table["user_id"].head(300)]
    past = stage_columns(in_process, sample)["past_ids"]
    sizes = (past >= 0).sum(axis=1)
    return [sample[row] for row in np.argsort(-sizes, kind="stable")[:12]]


@pytest.fixture(scope="module")
def rules(in_process: Any, users: list[int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Deny two unseen items of each user's Two-Tower list; at most CAP items per category."""
    columns = stage_columns(in_process, users)
    denied: set[int] = set()
    for row in range(len(users)):
        past = set(columns["past_ids"][row].tolist())
        fresh = [i for i in columns["retrieved_ids"][row].tolist() if i not in past]
        denied.update(fresh[:2])
    path = tmp_path_factory.mktemp("explain_rules") / "rules.json"
    path.write_text(json.dumps({"deny_items": sorted(denied), "max_per_category": CAP}))
    # the in-process graph takes the same rules as the served one
    loaded = Rules.from_file(path)
    for stage in in_process.stages:
        if hasattr(stage, "rules"):
            stage.rules = loaded
    return path


@pytest.fixture(scope="module")
def server(
    rules: Path, build_dir: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    from training.build.export import export_repository

    repository = tmp_path_factory.mktemp("explain_repository")
    export_repository(build_dir, repository, rules_file=rules)
    with serving(repository, redis_url) as triton:
        yield triton.grpc_url


@pytest.fixture(scope="module")
def explained(server: str, users: list[int]) -> dict[str, Any]:
    return infer(server, [*users, UNKNOWN_USER], explain=True)


def test_removed_are_exactly_the_past_and_denied_items_among_the_retrieved(
    explained: dict[str, Any], users: list[int], rules: Path, in_process: Any
) -> None:
    denied = set(json.loads(rules.read_text())["deny_items"])
    columns = stage_columns(in_process, users)
    reasons = {"seen": 0, "shown": 0, "denied": 0}
    # the build's filter removes the clicked items, or every item shown (FetchPastItems' shown)
    removes_shown = "shown_ids" in columns and explained["documents"][0]["ordering"]["filter"] == (
        "shown_ids"
    )
    for row, user in enumerate(users):
        assert explained["documents"][row]["user_id"] == user
        document = explained["documents"][row]
        past = {int(i) for i in columns["past_ids"][row] if i >= 0}  # FetchPastItems' output
        shown = {int(i) for i in columns["shown_ids"][row] if i >= 0} if removes_shown else past
        assert {item["item_id"] for item in document["past_items"]} == past
        tower, second = (source["candidates"] for source in document["sources"])
        assert [c["item_id"] for c in tower] == columns["retrieved_ids"][row].tolist()
        retrieved = {c["item_id"] for c in tower} | {c["item_id"] for c in second}
        removed = {item["item_id"]: item["reason"] for item in document["filter"]["removed"]}
        assert set(removed) == retrieved & (past | shown | denied)
        for item, reason in removed.items():
            assert reason == ("seen" if item in past else "shown" if item in shown else "denied")
            reasons[reason] += 1
        merged = [c["item_id"] for c in document["merged"]]
        assert merged == [i for i in columns["candidate_ids"][row].tolist() if i >= 0]
        assert not set(merged) & (past | shown | denied) and set(merged) <= retrieved
    assert reasons["seen"] > 0 and reasons["denied"] > 0  # both kinds really happened


def test_ranking_and_final_order_are_the_stages_outputs(
    explained: dict[str, Any], users: list[int], in_process: Any
) -> None:
    columns = stage_columns(in_process, users)
    width = columns["candidate_ids"].shape[1]
    for row in range(len(users)):
        document = explained["documents"][row]
        candidates = columns["candidate_ids"][row].tolist()
        scores = columns["final_score"].reshape(-1)[row * width : (row + 1) * width]
        probability = columns["click_score"].reshape(-1)[row * width : (row + 1) * width]
        expected = dict(zip(candidates, scores.tolist(), strict=True))
        expected_probability = dict(zip(candidates, probability.tolist(), strict=True))
        ranking = document["ranking"]
        assert {entry["item_id"] for entry in ranking} == {i for i in candidates if i >= 0}
        weights = document["ordering"]["weights"]
        for entry in ranking:
            assert entry["score"] == pytest.approx(expected[entry["item_id"]], rel=1e-5, abs=1e-6)
            assert entry["click_probability"] == pytest.approx(
                expected_probability[entry["item_id"]], rel=1e-5
            )
            assert set(entry["parts"]) == set(weights)
            shares = sum(part["share"] for part in entry["parts"].values())
            assert shares == pytest.approx(entry["score"], rel=1e-4, abs=1e-5)
        assert [e["score"] for e in ranking] == sorted((e["score"] for e in ranking), reverse=True)
        final = [item["item_id"] for item in document["final"]]
        assert final == columns["ordered_ids"][row].tolist()
        assert final == explained["ordered_ids"][row].tolist()
        assert {"category", "shop", "brand"} <= set(document["final"][0])
        assert document["user_features"]["found"] and not document["fallback"]
        labels = [timing["stage"] for timing in document["timings_ms"]]
        assert labels == [stage.label for stage in in_process.stages]
        assert all(timing["ms"] >= 0 for timing in document["timings_ms"])


def test_category_cap_skips_are_the_capped_categories(
    explained: dict[str, Any], users: list[int]
) -> None:
    skipped_any = False
    for row in range(len(users)):
        document = explained["documents"][row]
        cap = document["category_cap"]
        assert cap["max_per_category"] == CAP
        counts = pd.Series([item["category"] for item in document["final"]]).value_counts()
        assert counts.max() <= CAP
        for item in cap["skipped"]:
            skipped_any = True
            assert counts.get(item["category"], 0) == CAP  # its category was full
            assert item["score"] > min(i["score"] for i in document["final"])
        # without the cap, the answer would be the top of the ranking
        capped = {item["item_id"] for item in cap["skipped"]}
        uncapped = [e["item_id"] for e in document["ranking"] if e["item_id"] not in capped]
        assert [i["item_id"] for i in document["final"]] == uncapped[: len(document["final"])]
    assert skipped_any


def test_second_source_items_carry_their_origin(
    server: str, build_dir: Path, in_process: Any
) -> None:
    """Users with the fewest past items have few co-clicked items: their second source holds
    their segment's most clicked, each item labelled with the list it came from, the lists in
    the build's order."""
    from services.ensemble.candidates import segment_keys
    from services.ensemble.stages import MergeCandidates

    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    sample = [int(user) for user in table["user_id"].head(300)]
    sizes = (stage_columns(in_process, sample)["past_ids"] >= 0).sum(axis=1)
    light = [sample[row] for row in np.argsort(sizes, kind="stable")[:8]]
    lists = pd.read_parquet(build_dir / ARTIFACTS["segment_popular"])
    by_segment = lists.groupby("segment")["item_id"].apply(set)
    from services.ensemble.explain import ORIGINS

    (merge,) = (stage for stage in in_process.stages if isinstance(stage, MergeCandidates))
    order = {ORIGINS[name]: position for position, name in enumerate(merge.order)}
    origins: set[str] = set()
    for document in infer(server, light, explain=True)["documents"]:
        values = document["user_features"]["values"]
        key = int(segment_keys([[values[name]] for name in merge.segment_columns])[0])
        entries = document["sources"][1]["candidates"]
        # the lists in the build's order
        ranks = [order[entry["origin"]] for entry in entries]
        assert ranks == sorted(ranks)
        for entry in entries:
            origins.add(entry["origin"])
            if entry["origin"] == "popular in segment":
                assert entry["item_id"] in by_segment[key]
    assert ("popular in segment" in origins) == ("segment_popular" in merge.order)


def test_unknown_user_is_explained_as_a_fallback(explained: dict[str, Any]) -> None:
    document = explained["documents"][-1]
    assert document["user_id"] == UNKNOWN_USER and document["fallback"] is True
    assert document["user_features"] == {"found": False, "values": {}}
    assert [i["item_id"] for i in document["final"]] == explained["ordered_ids"][-1].tolist()
    assert explained["fallback"].reshape(-1)[-1]


def test_plain_requests_get_no_explanation_and_the_same_answer(
    server: str, users: list[int], explained: dict[str, Any]
) -> None:
    for flag in (None, False):
        plain = infer(server, users, explain=flag)
        assert "documents" not in plain
        np.testing.assert_array_equal(plain["ordered_ids"], explained["ordered_ids"][:-1])
        np.testing.assert_allclose(plain["ordered_scores"], explained["ordered_scores"][:-1])


def test_explain_and_plain_requests_batched_together_each_get_their_answer(
    server: str, users: list[int], explained: dict[str, Any]
) -> None:
    """Concurrent requests share dynamic batches: explain ones still get their documents,
    plain ones none, and both the same items as alone."""
    jobs = [(user, row % 2 == 0) for row, user in enumerate(users)] * 3
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda job: infer(server, [job[0]], job[1] or None), jobs))
    for (user, explain), answer in zip(jobs, answers, strict=True):
        row = users.index(user)
        assert answer["ordered_ids"][0].tolist() == explained["ordered_ids"][row].tolist()
        assert ("documents" in answer) is explain
        if explain:
            assert answer["documents"][0]["user_id"] == user


@pytest.fixture(scope="module")
def gateway_url(server: str, redis_url: str) -> Iterator[str]:
    with Gateway(server, redis_url, timeout_s=5.0) as gateway:
        yield gateway.url


def test_gateway_explain_carries_the_documents(
    gateway_url: str, users: list[int], explained: dict[str, Any]
) -> None:
    body = requests.get(
        f"{gateway_url}/recommend", params={"user_id": users[0], "explain": "true"}, timeout=10
    ).json()
    assert [i["item_id"] for i in body["items"]] == explained["ordered_ids"][0].tolist()
    explain = body["explain"]
    assert explain["filter"]["removed"] == explained["documents"][0]["filter"]["removed"]
    assert [i["item_id"] for i in explain["final"]] == [i["item_id"] for i in body["items"]]
    plain = requests.get(f"{gateway_url}/recommend", params={"user_id": users[0]}, timeout=10)
    assert "explain" not in plain.json()


@pytest.mark.parametrize(
    ("user_id", "status"), [(UNKNOWN_USER, 200), ("abc", 422), (2**31, 422), (-(2**31) - 1, 422)]
)
def test_explain_gives_the_plain_status_codes(
    gateway_url: str, user_id: object, status: int
) -> None:
    for params in ({"user_id": user_id}, {"user_id": user_id, "explain": "true"}):
        response = requests.get(f"{gateway_url}/recommend", params=params, timeout=10)
        assert response.status_code == status, params
    if status == 200:
        assert response.json()["fallback"] is True and response.json()["explain"]["fallback"]


def test_explain_gives_503_like_plain_while_triton_is_down(redis_url: str) -> None:
    gateway = Gateway(f"127.0.0.1:{free_port()}", redis_url, timeout_s=1.0)  # nothing listens
    try:
        for params in ({"user_id": 1}, {"user_id": 1, "explain": "true"}):
            response = requests.get(f"{gateway.url}/recommend", params=params, timeout=10)
            assert response.status_code == 503, params
            assert response.headers["Retry-After"]
    finally:
        gateway.stop()
