"""The offline build: raw data -> features -> models -> index -> online store -> manifest.

Everything is written into a staging directory beside the output and moved into place only
when every stage has succeeded, so a failed build never leaves a directory that looks complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import resource
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services.ensemble.contract import (
    BUILD_ID_FIELD,
    BUILDS_KEY,
    ONLINE_BUILD_KEY,
    build_key,
    feast_project,
)
from services.ensemble.final_score import OrderSettings
from training import (
    choice_split,
    coclick,
    data,
    distributed,
    evaluate,
    feature_store,
    features,
    index,
    interactions,
    itemitem,
    manifest,
    merge_choice,
    migrate_keys,
    order_choice,
    popular,
    ranking,
    retrieval,
    saved_model,
    segments,
)
from training.schema import TARGET

ARTIFACTS = {
    "workflow": "workflow",
    "query_tower": "query_tower",
    "ranking_model": "ranking_model",
    "item_embeddings": "item_embeddings.parquet",
    "faiss_index": "items.faiss",
    "popular_items": "popular_items.parquet",
    "coclick": "coclick.parquet",
    "segment_popular": "segment_popular.parquet",
    "itemitem": "itemitem.parquet",
    "itemitem_weights": "itemitem_weights.npz",
    "item_clicks": "item_clicks.parquet",
    "interactions": "interactions.parquet",
    "shown": "shown.parquet",
    "feature_repo": "feature_repo",
}


@dataclass(frozen=True)
class BuildConfig:
    out: Path
    redis_url: str
    rows: int = 100_000
    data_dir: Path | None = None
    synthetic: str = "planted"
    seed: int = 42
    retrieval: retrieval.RetrievalConfig = field(default_factory=retrieval.RetrievalConfig)
    ranking: ranking.RankingConfig = field(default_factory=ranking.RankingConfig)
    index: index.IndexConfig = field(default_factory=index.IndexConfig)
    itemitem: itemitem.ItemItemConfig = field(default_factory=itemitem.ItemItemConfig)
    dask: distributed.DaskConfig = field(default_factory=distributed.DaskConfig)


class StageTimer:
    """Prints each stage as it ends and keeps its wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 2)
        log(f"{name:<14} {self.seconds[name]:7.2f} s (peak RSS so far {peak_rss_mb():.0f} MB)")

    def total(self) -> float:
        return round(time.perf_counter() - self.started, 2)


def log(message: str) -> None:
    print(f"[build] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run(config: BuildConfig, raw: data.RawData | None = None) -> dict[str, Any]:
    """Build into a staging directory, then move it to `config.out`; returns the manifest.

    `raw` is the already loaded data, if the caller has it; else it is read or generated.
    """
    manifest.check_replaceable(config.out)
    staging = config.out.with_name(f".{config.out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        document = _build(config, staging, raw)
        _replace(staging, config.out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return document


def _replace(staging: Path, out: Path) -> None:
    previous = out.with_name(f".{out.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    shutil.rmtree(previous, ignore_errors=True)


def _build(config: BuildConfig, build_dir: Path, raw: data.RawData | None) -> dict[str, Any]:
    timer = StageTimer()
    feature_store.check_redis(config.redis_url)
    with timer.stage("data"):
        raw = _raw_data(config) if raw is None else raw
        log(f"{raw.source}: {len(raw.train)} train rows, {len(raw.valid)} valid rows")
    with timer.stage("features"):
        with distributed.dask_client(config.dask) as client:
            log(f"features on {config.dask.describe()}")
            workflow = features.build_workflow(build_dir / "categories", client)
            encoded = features.fit_transform(
                workflow,
                raw.train,
                {"valid": raw.valid, "all": pd.concat([raw.train, raw.valid])},
                partitions=config.dask.partitions,
            )
        workflow.save(str(build_dir / ARTIFACTS["workflow"]))
        shutil.rmtree(build_dir / "categories")  # the saved workflow holds its own copy
        schema = features.model_schema(workflow)
    split = choice_split.split(encoded["train"])
    with timer.stage("retrieval"):
        seed_training(config.seed)
        two_tower = retrieval.train(schema, split.fit, config.retrieval)
        query_tower = two_tower.query_tower()
        items = encoded["all"].drop_duplicates("item_id_raw", keep="last").reset_index(drop=True)
        item_vectors = retrieval.embed(two_tower.item_tower(), items)
        log(_format_metrics("two-tower", two_tower.curve.as_dict()))
    with timer.stage("ranking"):
        dlrm = ranking.train(schema, split.fit, config.ranking, stop_rows=split.held)
        log(_format_metrics("dlrm", dlrm.curve.as_dict()))
    with timer.stage("candidates"):
        popular_ids = _write_popular(build_dir / ARTIFACTS["popular_items"], encoded["train"])
        coclicked = coclick.table(interactions.clicks(raw.train))
        coclicked.to_parquet(build_dir / ARTIFACTS["coclick"], index=False)
        popular.item_clicks(encoded["train"]).reset_index().rename(
            columns={"item_id_raw": "item_id"}
        ).to_parquet(build_dir / ARTIFACTS["item_clicks"], index=False)
    with timer.stage("choices"):
        choices = _choose(config, encoded["train"], split, query_tower, items, item_vectors, dlrm)
    with timer.stage("itemitem"):
        ordering = choices.ordering
        pairs = itemitem.pairs_of(encoded["train"], ordering.itemitem_input)
        ease = itemitem.weights(pairs, config.itemitem)
        itemitem_table = itemitem.as_frame(*ease, config.itemitem.neighbours)
        itemitem_table.to_parquet(build_dir / ARTIFACTS["itemitem"], index=False)
        itemitem.save_dense(build_dir / ARTIFACTS["itemitem_weights"], *ease)
        segment_popular = segments.table(encoded["train"], choices.merge.segments)
        segment_popular.to_parquet(build_dir / ARTIFACTS["segment_popular"], index=False)
    with timer.stage("evaluation"):
        sources = evaluate.Sources(
            popular_ids,
            coclicked,
            segment_popular,
            choices.merge.settings,
            itemitem_table,
            ordering,
            ease,
        )
        on_clicks = ease if ordering.itemitem_input == "clicks" else None  # the baseline's
        evaluation = evaluate.build_table(
            encoded, query_tower, items, item_vectors, dlrm.model, sources, on_clicks
        )
        log("evaluation on the valid split:\n" + evaluate.format_table(evaluation))
    with timer.stage("save_models"):
        saved_model.save(query_tower, build_dir / ARTIFACTS["query_tower"], "query_vector")
        saved_model.save(dlrm.model, build_dir / ARTIFACTS["ranking_model"], TARGET)
    with timer.stage("index"):
        item_ids = items["item_id_raw"].to_numpy()
        _write_embeddings(build_dir / ARTIFACTS["item_embeddings"], item_ids, item_vectors)
        faiss_index = index.build(item_vectors, item_ids, config.index)
        index.save(faiss_index, build_dir / ARTIFACTS["faiss_index"])
    with timer.stage("online_store"):
        event_time = feature_store.now_utc()
        repo_dir = build_dir / ARTIFACTS["feature_repo"]
        tables = feature_store.feature_tables(encoded["all"], event_time)
        feature_store.write_repo(repo_dir, tables, event_time.isoformat())
        history = pd.concat([raw.train, raw.valid])
        interactions.clicks(history).to_parquet(build_dir / ARTIFACTS["interactions"], index=False)
        interactions.shown(history).to_parquet(build_dir / ARTIFACTS["shown"], index=False)
        # its own namespace: a serving version keeps reading its own build's state
        online = materialize(
            build_dir, config.redis_url, event_time.isoformat(), serve=False, ordering=ordering
        )
    document = {
        "source": raw.source,
        "seed": config.seed,
        "rows": {"train": len(raw.train), "valid": len(raw.valid)},
        "users": int(encoded["all"]["user_id_raw"].nunique()),
        "items": len(items),
        "evaluation": {**evaluation, "warnings": evaluate.warnings(evaluation)},
        "held_out": {"share": choice_split.HELD_SHARE, "rows": len(split.held)},
        "training": {"retrieval": two_tower.curve.as_dict(), "ranking": dlrm.curve.as_dict()},
        "candidates": {
            "tower_share": choices.merge.settings.tower_share,
            "second_source": list(choices.merge.settings.order),
            "choice": choices.merge.as_dict(),
            "coclick_neighbours": coclick.NEIGHBOURS,
            "segment_columns": list(choices.merge.settings.segment_columns),
            "segment_taste": "combined" if choices.merge.segments.combined else "own_clicks",
            "segment_items": segments.ITEMS,
        },
        "ordering": ordering.as_dict(),
        "ordering_choice": choices.as_dict(),
        "itemitem": {**asdict(config.itemitem), "items": int(itemitem_table["item_id"].nunique())},
        "index": {"factory": index.describe(len(items), config.index), **asdict(config.index)},
        "online_store": online,
        "config": _jsonable(asdict(config)),
        "artifacts": ARTIFACTS,
        "timings_s": {**timer.seconds, "total": timer.total()},
        "peak_rss_mb": peak_rss_mb(),
        BUILD_ID_FIELD: event_time.isoformat(),
        "versions": manifest.package_versions(),
    }
    manifest.write(build_dir, document)
    log(f"total {timer.total():.1f} s, peak RSS {peak_rss_mb():.0f} MB")
    return document


@dataclass(frozen=True)
class Choices:
    """What the build chose on its held-out train rows (training/choice_split.py)."""

    filter: order_choice.FilterChoice
    merge: merge_choice.MergeChoice
    weights: order_choice.WeightChoice

    @property
    def ordering(self) -> OrderSettings:
        """How serving filters and orders. Where nothing reads the item-item model (no weight,
        no list), it reads clicks: serving then fetches shown items only to remove them."""
        ordering = order_choice.ordering(self.filter, self.weights.weights)
        uses_itemitem = ordering.weights.itemitem > 0 or "itemitem" in self.merge.settings.order
        if not uses_itemitem:
            ordering = dataclasses.replace(ordering, itemitem_input="clicks")
        return ordering

    def as_dict(self) -> dict[str, Any]:
        return {"filter": self.filter.as_dict(), "weights": self.weights.as_dict()}


def _choose(
    config: BuildConfig,
    train: pd.DataFrame,
    split: choice_split.ChoiceSplit,
    query_tower: Any,
    items: pd.DataFrame,
    item_vectors: npt.NDArray[np.float32],
    dlrm: ranking.TrainedRanking,
) -> Choices:
    """The filter and item-item input, the merge, then the final score's weights."""
    chosen_filter, itemitem_fit, dense_fit = order_choice.choose_filter(split, config.itemitem)
    log(_format_metrics("filter choice (held-out NDCG@10 of EASE alone)", chosen_filter.ndcg))
    ordering = order_choice.ordering(chosen_filter)
    merge = merge_choice.choose(
        train, split, query_tower, items, item_vectors, (itemitem_fit, dense_fit), ordering
    )
    log(_format_metrics("segment choice (held-out recall@100)", merge.segment_recall))
    log(_format_metrics("merge choice (held-out merged recall@100)", merge.recall))
    log(f"chosen: {merge.settings}, segment lists {merge.segments.name}")
    impression_log = chosen_filter.exclude == "clicks"
    weights = order_choice.choose_weights(
        merge.inputs, split.held, split.fit, items, dlrm.model, impression_log
    )
    log(_format_metrics("each part alone (held-out NDCG@10)", weights.alone))
    log(
        f"chosen: filter {chosen_filter.exclude}, item-item reads {chosen_filter.itemitem_input}, "
        f"weights {weights.weights.as_dict()} (held-out NDCG@10 {weights.ndcg:.4f})"
    )
    return Choices(chosen_filter, merge, weights)


def seed_training(seed: int) -> None:
    """The build's --seed also fixes the models' initial weights and the data loaders' shuffles
    (Python's, numpy's and TensorFlow's generators), so one seed gives one build."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)


def materialize(
    build_dir: Path,
    redis_url: str,
    build_id: str,
    serve: bool = True,
    ordering: OrderSettings | None = None,
) -> dict[str, Any]:
    """Write a build's online state into its own namespace (features through Feast, interaction
    sets), then its marker, and register it in BUILDS_KEY; no other build's key is touched.

    `serve`: also name it the served build (ONLINE_BUILD_KEY); else only if none is named yet
    (a rebuild beside a serving stack leaves the served build alone: the rollout switches).
    Each user's shown items are written too when the build's `ordering` reads them (None: as
    its manifest says).
    """
    repo_dir = build_dir / ARTIFACTS["feature_repo"]
    features_online = feature_store.materialize(repo_dir, redis_url, build_id)
    client = feature_store.check_redis(redis_url)
    migrate_keys.tag_online_sets(client)  # online sets named before the hash tags: kept
    pairs = pd.read_parquet(build_dir / ARTIFACTS["interactions"])
    written = interactions.write(client, interactions.clicked_items(pairs), build_id)
    if ordering is None:
        ordering = OrderSettings.from_dict(manifest.read(build_dir).get("ordering"))
    shown_written = {}
    if ordering.reads_shown:
        shown = pd.read_parquet(build_dir / ARTIFACTS["shown"])
        items = interactions.clicked_items(shown)
        shown_written = interactions.write(client, items, build_id, "shown")
    client.set(build_key(build_id), build_id)
    client.zadd(BUILDS_KEY, {build_id: time.time()})
    client.set(ONLINE_BUILD_KEY, build_id, nx=not serve)
    return {
        "project": feast_project(build_id),
        **features_online,
        "interactions": written,
        **({"shown": shown_written} if shown_written else {}),
    }


def _raw_data(config: BuildConfig) -> data.RawData:
    if config.data_dir is not None:
        return data.load(config.data_dir)
    return data.generate(config.synthetic, config.rows, config.seed)


def _write_embeddings(
    path: Path, item_ids: evaluate.CatalogueIds, vectors: npt.NDArray[np.float32]
) -> None:
    dim = vectors.shape[1]
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    table = pa.table({"item_id": pa.array(item_ids, pa.int32()), "embedding": embedding})
    pq.write_table(table, path)


def _write_popular(path: Path, train: pd.DataFrame) -> evaluate.CatalogueIds:
    """The most clicked items in train (the answer for users the system does not know, and
    the second candidate source's fill); returns their catalogue ids, most clicked first."""
    top = popular.most_clicked(train)
    top.to_parquet(path, index=False)
    ids: evaluate.CatalogueIds = top["item_id"].to_numpy()
    return ids


def _format_metrics(name: str, values: Mapping[str, object]) -> str:
    shown = ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    return f"{name}: {shown}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k not in ("redis_url", "out")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
