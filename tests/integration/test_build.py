"""The session build, checked through its reloaded artifacts, real Feast and real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from nvtabular import Workflow

from tests.conftest import TEST_ROWS, TEST_SEED
from training.build import feature_store, features, index, manifest, ranking, retrieval
from training.build.artifacts import ARTIFACTS
from training.data import raw_data as data
from training.data.generator_common import FIRST_SPARSE_ID
from training.data.schema import ITEM_FEATURES, TARGET, USER_FEATURES
from training.evaluation import metrics

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def raw() -> data.RawData:
    """The same planted data the session build was made from."""
    return data.generate("planted", TEST_ROWS, TEST_SEED)


@pytest.fixture(scope="module")
def encoded(build_dir: Path, raw: data.RawData) -> dict[str, pd.DataFrame]:
    workflow = Workflow.load(str(build_dir / ARTIFACTS["workflow"]))
    return {
        "train": features.encode(workflow, raw.train),
        "valid": features.encode(workflow, raw.valid),
    }


@pytest.fixture(scope="module")
def tables(build_dir: Path) -> dict[str, pd.DataFrame]:
    repo = build_dir / ARTIFACTS["feature_repo"] / "data"
    return {name: pd.read_parquet(repo / f"{name}_features.parquet") for name in ("user", "item")}


def test_manifest_describes_a_complete_build(build_dir: Path) -> None:
    document = manifest.read(build_dir)
    assert document["complete"] is True
    assert document["rows"]["train"] + document["rows"]["valid"] == TEST_ROWS
    for stage in ("data", "features", "retrieval", "ranking", "index", "online_store", "total"):
        assert document["timings_s"][stage] >= 0
    assert document["versions"]["merlin-models"] == "23.8.0"
    ranking_table = document["evaluation"]["ranking"]
    assert {"dlrm_auc", "item_ctr_auc", "most_clicked_auc", "random_auc"} <= ranking_table.keys()
    assert {
        "tower_recall_at_100",
        "second_source_recall_at_100",
        "merged_recall_at_100",
        "most_clicked_recall_at_100",
        "segment_popular_recall_at_100",
        "random_recall_at_100",
    } <= document["evaluation"]["retrieval"].keys()
    assert isinstance(document["evaluation"]["warnings"], list)
    for model in ("retrieval", "ranking"):
        curve = document["training"][model]
        assert 1 <= curve["best_epoch"] <= curve["epochs_run"] == len(curve["by_epoch"])
    assert {"popular_items", "coclick", "segment_popular"} <= document["artifacts"].keys()
    for relative in document["artifacts"].values():
        assert not Path(relative).is_absolute()
        assert (build_dir / relative).exists(), relative
    assert not list(build_dir.parent.glob(".build.*")), "staging left behind"


def test_the_build_chose_the_merge_with_the_best_held_out_recall(build_dir: Path) -> None:
    candidates = manifest.read(build_dir)["candidates"]
    from training.build.merge_choice import ORDERS, SHARES

    recall = candidates["choice"]["merged_recall_at_100"]
    assert len(recall) == len(ORDERS) * len(SHARES) and candidates["choice"]["held_out_clicks"] > 0
    (order,) = (
        name for name, lists in ORDERS.items() if list(lists) == candidates["second_source"]
    )
    chosen = f"{order}@{candidates['tower_share']:g}"
    assert recall[chosen] == max(recall.values()), (chosen, recall)


def test_the_build_chose_how_it_filters_and_orders_on_held_out_rows(build_dir: Path) -> None:
    """The manifest records the choice; the served top-10 is measured beside its baselines."""
    from services.ensemble.final_score import OrderSettings

    document = manifest.read(build_dir)
    ordering = OrderSettings.from_dict(document["ordering"])
    choice = document["ordering_choice"]
    ndcg = choice["filter"]["itemitem_alone_ndcg_at_10"]
    chosen = choice["filter"]
    assert ndcg[f"{chosen['exclude']}/{chosen['itemitem_input']}"] == max(ndcg.values())
    assert ordering.exclude == chosen["exclude"]
    weights = choice["weights"]
    assert weights["ndcg_at_10"] >= weights["part_alone_ndcg_at_10"]["ranking"] - 1e-9
    # the planted generator logs impressions (some shown again), whatever the filter chose:
    # its order keeps the DLRM's estimated click rate
    assert chosen["log"] == "impressions" and chosen["repeated_pairs"] > 0
    assert weights["estimated_ctr"] >= weights["ctr_floor"]
    top10 = document["evaluation"]["top10"]
    for name in ("served", "dlrm_order", "most_clicked", "ease", "two_tower", "coclick"):
        assert 0.0 <= top10[f"{name}_ndcg_at_10"] <= 1.0
        assert 0.0 <= top10[f"{name}_debiased_ndcg_at_10"] <= 1.0
    assert top10["users"] > 0 and top10["filter"] == ordering.exclude
    assert top10["log"] == "impressions"  # its warnings compare the debiased measures
    below = [line for line in document["evaluation"]["warnings"] if "top-10" in line]
    assert not below, below  # the served list at or above every baseline
    assert "debiased" in weights["objective"]
    assert (build_dir / document["artifacts"]["itemitem"]).exists()


def test_the_build_chose_the_segments_recipe_with_the_best_recall(build_dir: Path) -> None:
    from training.build.segments import RECIPES

    candidates = manifest.read(build_dir)["candidates"]
    recall = candidates["choice"]["segment_recall_at_100"]
    assert set(recall) == {recipe.name for recipe in RECIPES}
    chosen = candidates["choice"]["segment_recipe"]
    assert recall[chosen] == max(recall.values()), (chosen, recall)
    assert chosen.split(" ")[0] == "+".join(candidates["segment_columns"])
    combined = candidates["segment_taste"] == "combined"
    assert chosen.endswith(" combined") == combined


def test_build_does_not_depend_on_its_absolute_path(build_dir: Path) -> None:
    needle = str(build_dir).encode()
    offenders = [
        path.relative_to(build_dir)
        for path in build_dir.rglob("*")
        if path.is_file() and path.suffix != ".parquet" and needle in path.read_bytes()
    ]
    assert offenders == []


def test_models_reload_and_score(build_dir: Path, encoded: dict[str, pd.DataFrame]) -> None:
    query_tower = tf.keras.models.load_model(build_dir / ARTIFACTS["query_tower"])
    dlrm = tf.keras.models.load_model(build_dir / ARTIFACTS["ranking_model"])
    sample = encoded["valid"].head(50)
    vectors = retrieval.embed(query_tower, sample)
    assert vectors.shape[0] == 50 and np.isfinite(vectors).all()
    scores = ranking.predict(dlrm, sample)
    assert scores.shape == (50,) and ((scores >= 0) & (scores <= 1)).all()


def test_embeddings_and_index_cover_the_whole_catalogue(build_dir: Path, raw: data.RawData) -> None:
    catalogue = set(pd.concat([raw.train, raw.valid])["item_id"])
    embeddings = pq.read_table(build_dir / ARTIFACTS["item_embeddings"]).to_pandas()
    assert set(embeddings["item_id"]) == catalogue
    faiss_index = index.load(build_dir / ARTIFACTS["faiss_index"])
    assert faiss_index.ntotal == len(catalogue)
    vectors = np.stack(embeddings["embedding"].to_numpy()).astype(np.float32)
    queries = vectors[:5] + 0.1
    _, found = index.search(faiss_index, queries, k=1)
    best = embeddings["item_id"].to_numpy()[np.argmax(queries @ vectors.T, axis=1)]
    assert found[:, 0].tolist() == best.tolist()


def test_ranking_model_learns_the_planted_signal(
    build_dir: Path, raw: data.RawData, encoded: dict[str, pd.DataFrame]
) -> None:
    dlrm = tf.keras.models.load_model(build_dir / ARTIFACTS["ranking_model"])
    labels = raw.valid[TARGET].to_numpy()
    model_auc = metrics.auc(labels, ranking.predict(dlrm, encoded["valid"]))
    item_ctr = raw.train.groupby("item_id")[TARGET].mean()
    popularity = raw.valid["item_id"].map(item_ctr).fillna(raw.train[TARGET].mean())
    baseline_auc = metrics.auc(labels, popularity.to_numpy())
    assert model_auc >= 0.70
    assert model_auc > baseline_auc + 0.02, (model_auc, baseline_auc)


def test_retrieval_beats_random_by_three_times(
    build_dir: Path, raw: data.RawData, encoded: dict[str, pd.DataFrame]
) -> None:
    query_tower = tf.keras.models.load_model(build_dir / ARTIFACTS["query_tower"])
    faiss_index = index.load(build_dir / ARTIFACTS["faiss_index"])
    clicks = raw.valid[TARGET].to_numpy() == 1
    queries = retrieval.embed(query_tower, encoded["valid"][clicks])
    _, found = index.search(faiss_index, queries, k=100)
    hits = (found == raw.valid["item_id"].to_numpy()[clicks][:, None]).any(axis=1)
    random_recall = 100 / faiss_index.ntotal
    assert hits.mean() >= 3 * random_recall, (hits.mean(), random_recall)


def test_every_known_user_gets_full_distinct_candidates(
    build_dir: Path, tables: dict[str, pd.DataFrame]
) -> None:
    query_tower = tf.keras.models.load_model(build_dir / ARTIFACTS["query_tower"])
    faiss_index = index.load(build_dir / ARTIFACTS["faiss_index"])
    users = tables["user"].rename(columns={"user_id": "raw", "user_id_encoded": "user_id"})
    _, found = index.search(faiss_index, retrieval.embed(query_tower, users), k=100)
    assert found.shape == (len(users), 100)
    assert (found >= 0).all()
    assert all(len(np.unique(row)) == 100 for row in found)


def test_ids_stay_catalogue_ids(
    build_dir: Path, raw: data.RawData, tables: dict[str, pd.DataFrame]
) -> None:
    both = pd.concat([raw.train, raw.valid])
    assert set(tables["user"]["user_id"]) == set(both["user_id"])
    assert set(tables["item"]["item_id"]) == set(both["item_id"])
    assert tables["user"]["user_id"].min() >= FIRST_SPARSE_ID
    popular = pd.read_parquet(build_dir / ARTIFACTS["popular_items"])
    assert set(popular["item_id"]) <= set(both["item_id"])
    assert popular["clicks"].is_monotonic_decreasing
    # each popular item's category as serving reads it (the ordering stage's capped fill)
    served = tables["item"].set_index("item_id")["item_category"]
    assert popular["item_category"].tolist() == served.loc[popular["item_id"]].tolist()


def _online(build_dir: Path, redis_url: str, view: str, key: str, ids: list[int]) -> pd.DataFrame:
    repo = build_dir / ARTIFACTS["feature_repo"]
    with feature_store.feast_env(repo, redis_url):
        store = feature_store.open_store(repo)
        names = [f"{view}:{f.name}" for f in store.get_feature_view(view).features]
        rows = store.get_online_features(names, [{key: int(i)} for i in ids]).to_df()
    return rows.set_index(key).loc[ids]


def test_user_features_read_back_through_feast(
    build_dir: Path, redis_url: str, tables: dict[str, pd.DataFrame]
) -> None:
    expected = tables["user"].sample(25, random_state=0).set_index("user_id")
    online = _online(build_dir, redis_url, "user_features", "user_id", expected.index.tolist())
    columns = ["user_id_encoded", *USER_FEATURES]
    assert online[columns].astype("int64").equals(expected[columns].astype("int64"))


def test_item_features_read_back_through_feast(
    build_dir: Path, redis_url: str, tables: dict[str, pd.DataFrame]
) -> None:
    expected = tables["item"].sample(25, random_state=0).set_index("item_id")
    online = _online(build_dir, redis_url, "item_features", "item_id", expected.index.tolist())
    columns = ["item_id_encoded", *ITEM_FEATURES]
    assert online[columns].astype("int64").equals(expected[columns].astype("int64"))


def test_online_features_match_the_workflow_encoding(
    build_dir: Path, raw: data.RawData, tables: dict[str, pd.DataFrame]
) -> None:
    workflow = Workflow.load(str(build_dir / ARTIFACTS["workflow"]))
    sample = raw.valid.drop_duplicates("user_id").head(20)
    encoded = features.encode(workflow, sample).set_index("user_id_raw")
    stored = tables["user"].set_index("user_id").loc[encoded.index]
    assert (stored[list(USER_FEATURES)].to_numpy() == encoded[list(USER_FEATURES)].to_numpy()).all()
    assert (stored["user_id_encoded"].to_numpy() == encoded["user_id"].to_numpy()).all()


def test_evaluate_recomputes_the_manifest_table_from_the_saved_artifacts(build_dir: Path) -> None:
    """`python -m training evaluate` from the build directory alone gives the build's numbers."""
    from training.evaluation import evaluate_build

    stored = json.loads((build_dir / manifest.MANIFEST).read_text())["evaluation"]
    again = evaluate_build.run(build_dir, None)
    for part in ("ranking", "retrieval"):
        for name, value in stored[part].items():
            assert again[part][name] == pytest.approx(value, abs=2e-3), (part, name)
    quality = again["true_click_probability"]
    assert quality["random_items"] < quality["most_clicked_top10"] < quality["best_top10"]


def test_coclick_table_holds_train_co_clicks(build_dir: Path, raw: data.RawData) -> None:
    table = pd.read_parquet(build_dir / ARTIFACTS["coclick"])
    clicks = raw.train[raw.train[TARGET] == 1]
    assert set(table["item_id"]) <= set(clicks["item_id"])
    assert (table["item_id"] != table["neighbour_id"]).all()
    assert table.groupby("item_id").size().max() <= 50
    assert ((table["score"] > 0) & (table["score"] <= 1 + 1e-6)).all()
    first = table.iloc[0]
    users = set(clicks.loc[clicks["item_id"] == first["item_id"], "user_id"])
    assert users & set(clicks.loc[clicks["item_id"] == first["neighbour_id"], "user_id"])


def test_segment_lists_hold_each_segments_train_clicks(
    build_dir: Path, raw: data.RawData, tables: dict[str, pd.DataFrame]
) -> None:
    """Per segment (the served user features' values of the build's segment columns), the items
    scored as the build's recipe says (counted here again from the raw train rows), best
    first. By own clicks: the segment's own clicks plus what its clicks on their category
    predict, and every item the segment clicked is there unless its list is full of better
    ones. Combined: the category's probability from each column value's clicks, times the
    item's share of its category; every train user's segment has a list."""
    from training.build import segments

    lists = pd.read_parquet(build_dir / ARTIFACTS["segment_popular"])
    candidates = manifest.read(build_dir)["candidates"]
    columns = tuple(candidates["segment_columns"])
    users = tables["user"].set_index("user_id")
    key_of = pd.Series(segments.keys(users, columns), index=users.index)
    clicks = raw.train[raw.train[TARGET] == 1]
    if candidates["segment_taste"] == "combined":
        score = _combined_scores(clicks, users, columns, key_of)
        assert set(lists["segment"]) == set(key_of.loc[raw.train["user_id"]])
    else:
        score = _own_clicks_scores(clicks, key_of)
        assert set(lists["segment"]) == set(key_of.loc[clicks["user_id"]])
    for segment, group in lists.groupby("segment"):
        assert len(group) <= segments.ITEMS
        scores = group["score"].tolist()
        assert scores == sorted(scores, reverse=True)
        expected = [score(segment, item) for item in group["item_id"]]
        assert scores == pytest.approx(expected)
    if candidates["segment_taste"] != "combined":
        keys = key_of.loc[clicks["user_id"]].tolist()
        for segment, group in lists.groupby("segment"):
            listed = set(group["item_id"])
            for clicked_segment, item in set(zip(keys, clicks["item_id"], strict=True)):
                if clicked_segment == segment and item not in listed:
                    low = group["score"].iloc[-1]
                    assert len(group) == segments.ITEMS and score(segment, item) <= low + 1e-9


def _category_shares(clicks: pd.DataFrame) -> Callable[[int], tuple[int, float]]:
    """item -> (its category, its share of the category's clicks), counted from raw clicks."""
    from collections import Counter

    items, categories = clicks["item_id"].tolist(), clicks["item_category"].tolist()
    per_item, per_category = Counter(items), Counter(categories)
    category_of = dict(zip(items, categories, strict=True))

    def share(item: int) -> tuple[int, float]:
        category = category_of[item]
        return category, per_item[item] / per_category[category]

    return share


def _own_clicks_scores(clicks: pd.DataFrame, key_of: pd.Series) -> Callable[[int, int], float]:
    from collections import Counter

    from training.build import segments

    keys = key_of.loc[clicks["user_id"]].tolist()
    own = Counter(zip(keys, clicks["item_id"].tolist(), strict=True))
    taste = Counter(zip(keys, clicks["item_category"].tolist(), strict=True))
    share = _category_shares(clicks)

    def score(segment: int, item: int) -> float:
        category, item_share = share(item)
        return (
            own[(segment, item)] + segments.CATEGORY_PRIOR * taste[(segment, category)] * item_share
        )

    return score


def _combined_scores(
    clicks: pd.DataFrame, users: pd.DataFrame, columns: tuple[str, ...], key_of: pd.Series
) -> Callable[[int, int], float]:
    import math
    from collections import Counter

    from training.build import segments

    categories = sorted(set(clicks["item_category"]))
    counted = Counter(clicks["item_category"])
    total = sum(counted[c] + 1.0 for c in categories)
    overall = {c: (counted[c] + 1.0) / total for c in categories}
    pseudo = segments.TASTE_SMOOTHING * len(categories)
    by_value = {}
    for column in columns:
        values = users[column].loc[clicks["user_id"]].tolist()
        counts = Counter(zip(values, clicks["item_category"].tolist(), strict=True))
        clicks_of = Counter(values)
        by_value[column] = {
            (value, c): (counts[(value, c)] + pseudo * overall[c]) / (clicks_of[value] + pseudo)
            for value in clicks_of
            for c in categories
        }
    values_of = {key: users.loc[user, list(columns)].tolist() for user, key in key_of.items()}

    def taste(segment: int) -> dict[int, float]:
        weights = {}
        for c in categories:
            log_weight = math.log(overall[c])
            for column, value in zip(columns, values_of[segment], strict=True):
                if (value, c) in by_value[column]:
                    log_weight += math.log(by_value[column][(value, c)] / overall[c])
            weights[c] = math.exp(log_weight)
        norm = sum(weights.values())
        return {c: w / norm for c, w in weights.items()}

    tastes = {key: taste(key) for key in set(key_of)}
    share = _category_shares(clicks)

    def score(segment: int, item: int) -> float:
        category, item_share = share(item)
        return tastes[segment][category] * item_share

    return score
