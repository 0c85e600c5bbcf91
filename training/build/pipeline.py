"""The offline build: raw data -> features -> models -> index -> online store -> manifest.

Everything is written into a staging directory beside the output and moved into place only
when every stage has succeeded, so a failed build never leaves a directory that looks complete.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from services.ensemble.contract import BUILD_ID_FIELD, ITEM_VECTOR
from training.build import (
    choice_split,
    coclick,
    distributed,
    feature_store,
    features,
    index,
    interactions,
    itemitem,
    manifest,
    popular,
    ranking,
    retrieval,
    saved_model,
    segments,
    vocabulary,
)
from training.build.artifacts import ARTIFACTS
from training.build.choices import choose, choose_model_free
from training.build.materialize import materialize
from training.build.progress import StageTimer, format_metrics, log, peak_rss_mb
from training.data import raw_data
from training.data.schema import TARGET
from training.evaluation import evaluate, user_clicks

if TYPE_CHECKING:
    import tensorflow as tf
    from merlin.schema import Schema


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


def run(config: BuildConfig, raw: raw_data.RawData | None = None) -> dict[str, Any]:
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


def _build(config: BuildConfig, build_dir: Path, raw: raw_data.RawData | None) -> dict[str, Any]:
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
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-free") as beside:
        model_free = beside.submit(choose_model_free, config.itemitem, encoded["train"], split)
        two_tower, query_tower, items, item_vectors, dlrm = _train_models(
            config, timer, schema, split, encoded["all"]
        )
        with timer.stage("candidates"):
            popular_ids = _write_popular(build_dir / ARTIFACTS["popular_items"], encoded["train"])
            coclicked = coclick.table(interactions.clicks(raw.train))
            coclicked.to_parquet(build_dir / ARTIFACTS["coclick"], index=False)
            popular.item_clicks(encoded["train"]).reset_index().rename(
                columns={"item_id_raw": "item_id"}
            ).to_parquet(build_dir / ARTIFACTS["item_clicks"], index=False)
        with timer.stage("choices"):
            choices = choose(model_free.result(), split, query_tower, items, item_vectors, dlrm)
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
            choices.filter.impression_log,
        )
        on_clicks = ease if ordering.itemitem_input == "clicks" else None  # the baseline's
        evaluation = evaluate.build_table(
            encoded, query_tower, items, item_vectors, dlrm.model, sources, on_clicks
        )
        log("evaluation on the valid split:\n" + evaluate.format_table(evaluation))
    with timer.stage("save_models"):
        saved_model.save(query_tower, build_dir / ARTIFACTS["query_tower"], "query_vector")
        saved_model.save(two_tower.item_tower(), build_dir / ARTIFACTS["item_tower"], ITEM_VECTOR)
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
        vocabulary.write(workflow, build_dir / ARTIFACTS["workflow"] / "categories", repo_dir)
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


def _train_models(
    config: BuildConfig,
    timer: StageTimer,
    schema: Schema,
    split: choice_split.ChoiceSplit,
    all_rows: pd.DataFrame,
) -> tuple[
    retrieval.TrainedRetrieval,
    tf.keras.Model,
    pd.DataFrame,
    npt.NDArray[np.float32],
    ranking.TrainedRanking,
]:
    """The Two-Tower (with its query tower, the catalogue's encoded rows and their item
    vectors), then the DLRM, both fit on `split.fit`."""
    with timer.stage("retrieval"):
        seed_training(config.seed)
        two_tower = retrieval.train(schema, split.fit, config.retrieval)
        query_tower = two_tower.query_tower()
        items = all_rows.drop_duplicates("item_id_raw", keep="last").reset_index(drop=True)
        item_vectors = retrieval.embed(two_tower.item_tower(), items)
        log(format_metrics("two-tower", two_tower.curve.as_dict()))
    with timer.stage("ranking"):
        dlrm = ranking.train(schema, split.fit, config.ranking, stop_rows=split.held)
        log(format_metrics("dlrm", dlrm.curve.as_dict()))
    return two_tower, query_tower, items, item_vectors, dlrm


def seed_training(seed: int) -> None:
    """The build's --seed also fixes the models' initial weights and the data loaders' shuffles
    (Python's, numpy's and TensorFlow's generators), so one seed gives one build."""
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)


def _raw_data(config: BuildConfig) -> raw_data.RawData:
    if config.data_dir is not None:
        return raw_data.load(config.data_dir)
    return raw_data.generate(config.synthetic, config.rows, config.seed)


def _write_embeddings(
    path: Path, item_ids: user_clicks.CatalogueIds, vectors: npt.NDArray[np.float32]
) -> None:
    dim = vectors.shape[1]
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    table = pa.table({"item_id": pa.array(item_ids, pa.int32()), "embedding": embedding})
    pq.write_table(table, path)


def _write_popular(path: Path, train: pd.DataFrame) -> user_clicks.CatalogueIds:
    """The most clicked items in train (the answer for users the system does not know, and
    the second candidate source's fill); returns their catalogue ids, most clicked first."""
    top = popular.most_clicked(train)
    top.to_parquet(path, index=False)
    ids: user_clicks.CatalogueIds = top["item_id"].to_numpy()
    return ids


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if k not in ("redis_url", "out")}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
