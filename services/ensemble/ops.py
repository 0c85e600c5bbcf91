"""The serving graph's operators (merlin-systems / merlin.dag), one per stage.

Every stage passes its input columns through and adds its own, so later stages can use what
earlier ones produced. A request holds n user ids; per-user columns have n rows, per-candidate
columns n*K rows (K candidates per user, row-major).

Heavy state (TensorFlow models, the faiss index, Redis connections) is never pickled with the
graph: `save_artifacts` copies the files into the exported model repository and
`load_artifacts` loads them from there, so the repository can be served from any path.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from merlin.core.protocols import Transformable
from merlin.dag import BaseOperator
from merlin.dag.selector import ColumnSelector
from merlin.schema import ColumnSchema, Schema
from numpy.typing import NDArray

from services.ensemble.contract import interactions_key
from services.ensemble.rules import Rules
from services.ensemble.settings import EnsembleSettings

Columns = dict[str, NDArray[Any]]
STAGE_SECONDS: dict[str, float] = {}
"""Cumulative wall time per stage in this process (read by the stage-timing output)."""


class Stage(BaseOperator):
    """Base of the stages: pass-through columns, artifacts copied at export, loaded at serve."""

    artifact: str | None = None
    """Name of this stage's file or folder in the exported repository, if it has one."""

    def __init__(self, source: Path | None = None) -> None:
        super().__init__()
        self.source = source
        self.adds: dict[str, tuple[Any, tuple[int | None, ...]]] = {}
        """New output columns: name -> (numpy dtype, dims)."""
        self._state: Any = None

    # -- schema -----------------------------------------------------------------------------
    def compute_output_schema(
        self,
        input_schema: Schema,
        col_selector: ColumnSelector,
        prev_output_schema: Schema | None = None,
    ) -> Schema:
        added = [
            ColumnSchema(name, dtype=dtype, dims=dims) for name, (dtype, dims) in self.adds.items()
        ]
        return input_schema + Schema(added)

    # -- execution --------------------------------------------------------------------------
    def transform(
        self, col_selector: ColumnSelector, transformable: Transformable
    ) -> Transformable:
        columns = {name: np.asarray(transformable[name].values) for name in transformable.columns}
        start = time.perf_counter()
        added = self.run(columns)
        STAGE_SECONDS[self.label] = STAGE_SECONDS.get(self.label, 0.0) + time.perf_counter() - start
        return type(transformable)({**columns, **added})

    def run(self, columns: Columns) -> Columns:
        raise NotImplementedError

    @property
    def label(self) -> str:
        """The stage's name in timings."""
        return type(self).__name__

    @property
    def state(self) -> Any:
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__}: artifacts not loaded")
        return self._state

    # -- artifacts --------------------------------------------------------------------------
    def save_artifacts(self, artifact_path: Any = None) -> None:
        if self.artifact is None or not artifact_path or self.source is None:
            return
        target = Path(artifact_path) / self.artifact
        if self.source.is_dir():
            shutil.copytree(self.source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(self.source, target)

    def load_artifacts(self, artifact_path: Any = None) -> None:
        if self.artifact is None:
            self._state = self.connect()
            return
        exported = Path(artifact_path) / self.artifact if artifact_path else None
        if exported is not None and exported.exists():
            self._state = self.load(exported)
        elif self.source is not None:
            self._state = self.load(self.source)

    def load(self, path: Path) -> Any:
        """This stage's state, from its artifact at `path`."""
        return None

    def connect(self) -> Any:
        """The state of a stage without an artifact (e.g. a connection)."""
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = None
        state["source"] = None  # a build-time path: the export holds its own copy
        return state


class FetchFeatures(Stage):
    """Catalogue ids in `ids_column` -> their encoded features from one Feast view, a found flag.

    `view` "user_features" on `user_id` gives one row per user; "item_features" on
    `candidate_ids` one row per (user, candidate).
    """

    artifact = "feature_repo"

    def __init__(
        self,
        source: Path | None,
        view: str,
        ids_column: str,
        features: tuple[str, ...],
        found_column: str,
        copies_repo: bool = True,
    ) -> None:
        super().__init__(source)
        self.view = view
        self.ids_column = ids_column
        self.found_column = found_column
        self.copies_repo = copies_repo
        self.adds = {
            **{name: (np.int32, (None,)) for name in features},
            found_column: (np.dtype("bool"), (None,)),
        }

    @property
    def label(self) -> str:
        return f"FetchFeatures[{self.view}]"

    def save_artifacts(self, artifact_path: Any = None) -> None:
        if self.copies_repo:  # both views share one feature repo: copy it once
            super().save_artifacts(artifact_path)

    def load(self, path: Path) -> Any:
        from services.ensemble.online_store import open_reader

        return open_reader(path, self.view, EnsembleSettings.from_env())

    def run(self, columns: Columns) -> Columns:
        reader, view = self.state
        values, found = reader.read(view, columns[self.ids_column].reshape(-1).astype(np.int32))
        out = {name: values[:, i] for i, name in enumerate(view.features)}
        out[self.found_column] = found
        return out


class PredictInProcess(Stage):
    """A Keras SavedModel (Merlin Models) run in this process through its serving signature."""

    def __init__(self, source: Path | None, artifact: str, output: str, rename: dict[str, str]):
        super().__init__(source)
        self.artifact = artifact
        self.output = output
        self.rename = rename
        """Model input name -> column name, where they differ."""
        self.adds = {output: (np.float32, (None, None))}

    @property
    def label(self) -> str:
        return f"Predict[{self.artifact}]"

    def load(self, path: Path) -> Any:
        import merlin.models.tf  # noqa: F401 - registers the custom layers the model needs
        import tensorflow as tf

        model = tf.saved_model.load(str(path))
        signature = model.signatures["serving_default"]
        return model, signature, sorted(signature.structured_input_signature[1])

    def run(self, columns: Columns) -> Columns:
        import tensorflow as tf

        _, signature, input_names = self.state
        inputs = {
            name: tf.constant(columns[self.rename.get(name, name)].reshape(-1).astype(np.int32))
            for name in input_names
        }
        result = next(iter(signature(**inputs).values()))
        return {self.output: result.numpy().astype(np.float32)}


class FetchInteractions(Stage):
    """User ids -> the items each user interacted with (Redis sets), padded with -1."""

    def __init__(self) -> None:
        super().__init__(None)
        self.adds = {"seen_ids": (np.int32, (None, None))}

    def connect(self) -> Any:
        import redis

        url = EnsembleSettings.from_env().redis_url
        return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def run(self, columns: Columns) -> Columns:
        users = columns["user_id"].reshape(-1).tolist()
        with self.state.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.smembers(interactions_key(user))
            sets = pipe.execute()
        width = max([1, *(len(members) for members in sets)])
        seen = np.full((len(users), width), -1, dtype=np.int32)
        for row, members in enumerate(sets):
            seen[row, : len(members)] = sorted(int(m) for m in members)
        return {"seen_ids": seen}


class RetrieveCandidates(Stage):
    """Query embeddings -> the top-K catalogue item ids by inner product (faiss).

    It asks faiss for K plus as many as the filter may remove (the user's items and the
    deny-list), so K candidates remain after filtering whenever the catalogue has them.
    """

    artifact = "items.faiss"

    def __init__(self, source: Path | None, topk: int, rules: Rules | None = None) -> None:
        super().__init__(source)
        self.topk = topk
        self.rules = rules or Rules()
        self.adds = {"retrieved_ids": (np.int32, (None, None))}

    def load(self, path: Path) -> Any:
        import faiss

        faiss.omp_set_num_threads(1)  # one query per call: threads only add overhead here
        return faiss.read_index(str(path))

    def run(self, columns: Columns) -> Columns:
        from services.ensemble.faiss_index import search

        seen = columns["seen_ids"]
        extra = int((seen >= 0).sum(axis=1).max()) + len(self.rules.deny_items)
        _, ids = search(self.state, columns["query_embedding"], self.topk + extra)
        return {"retrieved_ids": ids.astype(np.int32)}


class FilterCandidates(Stage):
    """Drop each user's own items and denied items; keep the best K (padded with -1 only when
    the catalogue has fewer left)."""

    def __init__(self, topk: int, rules: Rules | None = None) -> None:
        super().__init__(None)
        self.topk = topk
        self.rules = rules or Rules()
        self.adds = {"candidate_ids": (np.int32, (None, None))}

    def run(self, columns: Columns) -> Columns:
        retrieved, seen = columns["retrieved_ids"], columns["seen_ids"]
        excluded = excluded_mask(retrieved, seen, self.rules.deny_items)
        candidates = np.full((len(retrieved), self.topk), -1, dtype=np.int32)
        for row in range(len(retrieved)):
            kept = retrieved[row][~excluded[row]][: self.topk]
            candidates[row, : len(kept)] = kept
        return {"candidate_ids": candidates}


def excluded_mask(ids: NDArray[Any], seen: NDArray[Any], deny: frozenset[int]) -> NDArray[np.bool_]:
    """True where ids[row, j] is one of the row's seen items or on the deny-list."""
    mask = (ids[:, :, None] == seen[:, None, :]).any(axis=2)
    if deny:
        mask |= np.isin(ids, np.fromiter(deny, dtype=np.int64))
    return np.asarray(mask, dtype=bool)


class UnrollUserFeatures(Stage):
    """Repeat each user's features once per candidate, to line up with the item rows."""

    def __init__(self, features: tuple[str, ...]) -> None:
        super().__init__(None)
        self.features = features
        self.adds = {f"unrolled_{name}": (np.int32, (None,)) for name in features}

    def run(self, columns: Columns) -> Columns:
        per_user = columns["candidate_ids"].shape[1] if columns["candidate_ids"].ndim == 2 else 0
        return {
            f"unrolled_{name}": np.repeat(columns[name].reshape(-1), per_user)
            for name in self.features
        }


class OrderByScore(Stage):
    """Order each user's candidates by the ranking model's score and keep the top k.

    `temperature == 0` (default): deterministic, highest score first.
    `temperature > 0`: sample k without replacement with probabilities softmax(score / T)
    (Gumbel top-k): small T stays close to the score order, large T approaches uniform.
    Users without features get the most popular items, with `fallback` set.
    """

    artifact = "popular_items.parquet"

    def __init__(
        self,
        source: Path | None,
        topk: int,
        temperature: float = 0.0,
        rules: Rules | None = None,
    ) -> None:
        """`topk` must not exceed the number of candidates: every answer has exactly topk items."""
        super().__init__(source)
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        self.topk = topk
        self.temperature = temperature
        self.rules = rules or Rules()
        self.adds = {
            "ordered_ids": (np.int32, (None, topk)),
            "ordered_scores": (np.float32, (None, topk)),
            "fallback": (np.dtype("bool"), (None,)),
        }

    def load(self, path: Path) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(path).column("item_id").to_numpy().astype(np.int32)

    def run(self, columns: Columns) -> Columns:
        candidates = columns["candidate_ids"]
        users = candidates.shape[0]
        scores = columns["click_score"].reshape(users, -1).astype(np.float32)
        scores = np.where(columns["item_found"].reshape(users, -1), scores, -np.inf)
        categories = columns["item_category"].reshape(users, -1)
        keys = self._sort_keys(scores)
        picks = np.stack([self._pick(keys[row], categories[row]) for row in range(users)])
        ordered_ids = np.take_along_axis(candidates, picks, axis=1)
        ordered_scores = np.take_along_axis(scores, picks, axis=1)
        fallback = ~columns["user_found"].reshape(-1)
        for row in np.flatnonzero(fallback):
            ordered_ids[row], ordered_scores[row] = self._popular(columns["seen_ids"][row]), 0.0
        ordered_scores[~np.isfinite(ordered_scores)] = 0.0  # only -1 padding: nothing was left
        return {
            "ordered_ids": ordered_ids.astype(np.int32),
            "ordered_scores": ordered_scores.astype(np.float32),
            "fallback": fallback,
        }

    def _pick(self, keys: NDArray[np.float64], categories: NDArray[Any]) -> NDArray[np.int64]:
        """Indices of the k best by key, at most `max_per_category` per category (relaxed only
        if the candidates cannot fill k otherwise), best first."""
        order = np.argsort(-keys, kind="stable")
        cap = self.rules.max_per_category
        if not cap:
            return order[: self.topk]
        chosen: list[int] = []
        skipped: list[int] = []
        per_category: dict[int, int] = {}
        for index in order.tolist():
            category = int(categories[index])
            if per_category.get(category, 0) < cap:
                per_category[category] = per_category.get(category, 0) + 1
                chosen.append(index)
                if len(chosen) == self.topk:
                    break
            else:
                skipped.append(index)
        chosen += skipped[: self.topk - len(chosen)]
        picked = np.asarray(chosen, dtype=np.int64)
        return np.asarray(picked[np.argsort(-keys[picked], kind="stable")], dtype=np.int64)

    def _popular(self, seen: NDArray[Any]) -> NDArray[np.int32]:
        """The most popular items the user has not had and the rules allow, -1 padded."""
        popular = self.state
        allowed = popular[~excluded_mask(popular[None, :], seen[None, :], self.rules.deny_items)[0]]
        answer = np.full(self.topk, -1, dtype=np.int32)
        answer[: min(self.topk, len(allowed))] = allowed[: self.topk]
        return answer

    def _sort_keys(self, scores: NDArray[np.float32]) -> NDArray[np.float64]:
        if self.temperature == 0:
            return scores.astype(np.float64)
        gumbel = -np.log(-np.log(np.random.default_rng().uniform(1e-12, 1.0, scores.shape)))
        return np.asarray(scores / self.temperature + gumbel, dtype=np.float64)
