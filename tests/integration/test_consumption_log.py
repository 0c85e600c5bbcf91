"""A consumption log end to end (the `ratings` generator: each item chosen once, a click when
liked), on a real Redis, tritonserver and gateway.

* The build reads it as one: its filter removes every shown item, the final order weighs the
  item-item model, and its served top-10 beats the most clicked items and EASE's on the valid
  split (the table in its manifest).
* A click counts at once: after POST /interactions, the next answer holds the clicked item's
  item-item neighbours it did not hold before, and the clicked item is gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from tests.conftest import TEST_SEED, Gateway, serving
from training.build import manifest
from training.build.artifacts import ARTIFACTS

pytestmark = pytest.mark.slow

DB = 7  # a database no other test uses
ROWS = 20_000


@pytest.fixture(scope="module")
def ratings_build(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Path:
    from training.build.pipeline import BuildConfig, run

    out = tmp_path_factory.mktemp("session_ratings") / "build"
    config = BuildConfig(
        out=out, redis_url=f"{redis_server}/{DB}", rows=ROWS, seed=TEST_SEED, synthetic="ratings"
    )
    run(config)
    return out


@pytest.fixture(scope="module")
def stack(
    ratings_build: Path, tmp_path_factory: pytest.TempPathFactory, redis_server: str
) -> Iterator[Gateway]:
    from training.build.export import export_repository

    url = f"{redis_server}/{DB}"
    repository = tmp_path_factory.mktemp("repository_ratings")
    export_repository(ratings_build, repository)
    with serving(repository, url) as server:
        gateway = Gateway(server.grpc_url, url, timeout_s=5.0)
        try:
            yield gateway
        finally:
            gateway.stop()


def test_the_build_reads_a_consumption_log_as_one(ratings_build: Path) -> None:
    document = manifest.read(ratings_build)
    ordering, top10 = document["ordering"], document["evaluation"]["top10"]
    print(f"\nratings {ROWS} rows: {ordering}; valid top-10: {top10}")
    assert ordering["exclude"] == "shown"
    chosen = document["ordering_choice"]["filter"]
    assert chosen["log"] == "consumption" and chosen["repeated_pairs"] == 0.0
    assert "ctr_floor" not in document["ordering_choice"]["weights"]  # NDCG alone decides
    assert ordering["weights"]["itemitem"] > 0
    assert document["online_store"]["shown"]["users"] > 0  # the filter's sets are in Redis
    served = top10["served_ndcg_at_10"]
    assert served > 1.5 * top10["most_clicked_ndcg_at_10"], top10
    assert served > top10["dlrm_order_ndcg_at_10"], top10
    assert served >= 0.97 * top10["ease_ndcg_at_10"], top10  # EASE's pruned weights serve


def recommend(gateway: Gateway, user: int, explain: bool = False) -> dict[str, Any]:
    params = {"user_id": user, "k": 10, **({"explain": "true"} if explain else {})}
    response = requests.get(f"{gateway.url}/recommend", params=params, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def strongest_neighbours(build: Path, item: int, count: int) -> list[int]:
    table = pd.read_parquet(build / ARTIFACTS["itemitem"])
    rows = table[table["item_id"] == item].sort_values("score", ascending=False)
    return [int(i) for i in rows["neighbour_id"].head(count)]


def test_a_click_brings_the_clicked_items_neighbours_at_once(
    stack: Gateway, ratings_build: Path
) -> None:
    """The user and item are chosen from the build's data alone: the user with the fewest
    past items among those the build knows, and the item whose strongest item-item weight to
    an item the user has not had is the largest."""
    shown = pd.read_parquet(ratings_build / ARTIFACTS["shown"])
    clicked = pd.read_parquet(ratings_build / ARTIFACTS["interactions"])
    had = pd.concat([shown, clicked]).groupby("user_id")["item_id"].apply(set)
    user = int(had.map(len).idxmin())
    table = pd.read_parquet(ratings_build / ARTIFACTS["itemitem"])
    fresh = table[~table["item_id"].isin(had[user]) & ~table["neighbour_id"].isin(had[user])]
    item = int(fresh.sort_values("score", ascending=False)["item_id"].iloc[0])
    neighbours = [n for n in strongest_neighbours(ratings_build, item, 10) if n not in had[user]][
        :5
    ]
    before = [entry["item_id"] for entry in recommend(stack, user)["items"]]

    response = requests.post(
        f"{stack.url}/interactions", json={"user_id": user, "item_id": item}, timeout=10
    )
    assert response.status_code in (200, 201), response.text
    after_body = recommend(stack, user, explain=True)
    after = [entry["item_id"] for entry in after_body["items"]]
    print(f"\nuser {user} clicked {item}: before {before}, after {after}, neighbours {neighbours}")
    assert item not in after
    came_up = set(after) & set(neighbours) - set(before)
    assert came_up, (before, after, neighbours)
    parts = {e["item_id"]: e["parts"] for e in after_body["explain"]["ranking"]}
    for neighbour in came_up:
        assert parts[neighbour]["itemitem"]["value"] > 0  # the click's weight, read at once
