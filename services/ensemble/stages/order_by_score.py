"""Stage: order each user's candidates by the ranking model's score and keep the top k."""

from __future__ import annotations

from collections import Counter
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.contract import OUTPUTS
from services.ensemble.rules import Rules
from services.ensemble.stages.base import FLAG, PER_ROW, Columns, Stage
from services.ensemble.stages.filter_candidates import excluded_mask


@dataclass(frozen=True)
class PopularItems:
    """The build's most clicked items, most clicked first, with their categories when the build
    wrote them (builds before did not: their capped answers relax the cap instead)."""

    ids: NDArray[np.int32]
    categories: NDArray[np.int64] | None = None


@dataclass(frozen=True)
class OrderInputs:
    """The columns OrderByScore reads."""

    candidates: str
    """Item ids [users, K]."""
    scores: str
    """Ranking scores, one per candidate."""
    item_found: str
    """Whether each candidate has features (those without rank last)."""
    categories: str
    """Each candidate's category (for the per-category cap)."""
    user_found: str
    """Whether each user has features (those without get popular items)."""
    past: str
    """Each user's past items [users, P], -1 padded (excluded from the popular items)."""


class OrderByScore(Stage):
    """Order each user's candidates by score and keep the top k: the contract's three outputs.

    `temperature == 0` (default): deterministic, highest score first.
    `temperature > 0`: sample k without replacement with probabilities softmax(score / T)
    (Gumbel top-k): small T stays close to the score order, large T approaches uniform.
    Users without features get the most popular items, with `fallback` set.
    With a per-category cap (`rules.max_per_category`), an answer the candidates cannot fill
    within the cap is filled with the most popular items of other categories (score 0, after
    the scored ones); only when those run out too is the cap relaxed.
    """

    artifact = "popular_items.parquet"

    def __init__(
        self,
        source: Path | None,
        topk: int,
        inputs: OrderInputs,
        temperature: float = 0.0,
        rules: Rules | None = None,
    ) -> None:
        """`topk`: the answer size k (not the candidate count K, which it must not exceed):
        every answer has exactly topk items."""
        if temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        ids, scores, fallback = OUTPUTS
        writes = {
            ids: (np.int32, (None, topk)),
            scores: (np.float32, (None, topk)),
            fallback: (FLAG, PER_ROW),
        }
        super().__init__(reads=astuple(inputs), writes=writes, source=source)
        self.topk = topk
        self.inputs = inputs
        self.temperature = temperature
        self.rules = rules or Rules()

    def load(self, path: Path) -> Any:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        ids = table.column("item_id").to_numpy().astype(np.int32)
        if "item_category" not in table.column_names:
            return PopularItems(ids)
        return PopularItems(ids, table.column("item_category").to_numpy().astype(np.int64))

    def run(self, columns: Columns) -> Columns:
        names = self.inputs
        candidates = columns[names.candidates]
        users = candidates.shape[0]
        scores = columns[names.scores].reshape(users, -1).astype(np.float32)
        scores = np.where(columns[names.item_found].reshape(users, -1), scores, -np.inf)
        categories = columns[names.categories].reshape(users, -1)
        keys = self._sort_keys(scores)
        past = columns[names.past]
        if self.rules.max_per_category:
            ordered_ids = np.empty((users, self.topk), dtype=np.int32)
            ordered_scores = np.empty((users, self.topk), dtype=np.float32)
            for row in range(users):
                ordered_ids[row], ordered_scores[row] = self._answer(
                    candidates[row], scores[row], keys[row], categories[row], past[row]
                )
        else:
            best = np.argsort(-keys, axis=1, kind="stable")[:, : self.topk]
            ordered_ids = np.take_along_axis(candidates, best, axis=1).astype(np.int32)
            ordered_scores = np.take_along_axis(scores, best, axis=1)
        fallback = ~columns[names.user_found].reshape(-1)
        for row in np.flatnonzero(fallback):
            ordered_ids[row], ordered_scores[row] = self._popular(columns[names.past][row]), 0.0
        ordered_scores[~np.isfinite(ordered_scores)] = 0.0  # only -1 padding: nothing was left
        ids_out, scores_out, fallback_out = OUTPUTS
        return {
            ids_out: ordered_ids.astype(np.int32),
            scores_out: ordered_scores.astype(np.float32),
            fallback_out: fallback,
        }

    def _answer(
        self,
        candidates: NDArray[Any],
        scores: NDArray[np.float32],
        keys: NDArray[np.float64],
        categories: NDArray[Any],
        past: NDArray[Any],
    ) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
        """One user's k ids and scores: the best candidates within the cap, then popular items
        of other categories, then (the cap relaxed) the candidates passed over."""
        chosen, skipped = self._pick(keys, categories)
        fill = self._category_fill(candidates[chosen], categories[chosen], past, len(chosen))
        relaxed = skipped[: self.topk - len(chosen) - len(fill)]
        picked = np.asarray(chosen + relaxed, dtype=np.int64)
        picked = picked[np.argsort(-keys[picked], kind="stable")]
        ids = np.concatenate([candidates[picked], fill]).astype(np.int32)
        values = np.concatenate([scores[picked], np.zeros(len(fill), dtype=np.float32)])
        return ids, values

    def _pick(
        self, keys: NDArray[np.float64], categories: NDArray[Any]
    ) -> tuple[list[int], list[int]]:
        """Indices of the k best by key within `max_per_category` (set) per category, best
        first, and the better candidates passed over for the cap, best first."""
        order = np.argsort(-keys, kind="stable").tolist()
        cap = self.rules.max_per_category
        chosen: list[int] = []
        skipped: list[int] = []
        per_category: dict[int, int] = {}
        for index in order:
            category = int(categories[index])
            if per_category.get(category, 0) < cap:
                per_category[category] = per_category.get(category, 0) + 1
                chosen.append(index)
                if len(chosen) == self.topk:
                    break
            else:
                skipped.append(index)
        return chosen, skipped

    def _category_fill(
        self, taken: NDArray[Any], taken_categories: NDArray[Any], past: NDArray[Any], count: int
    ) -> NDArray[np.int32]:
        """Up to k - `count` popular items, most popular first, that the user has not had, the
        rules allow, the answer does not hold, and whose category is still under the cap."""
        popular: PopularItems = self.state
        cap = self.rules.max_per_category
        if count >= self.topk or popular.categories is None:
            return np.empty(0, dtype=np.int32)
        allowed = ~excluded_mask(popular.ids[None, :], past[None, :], self.rules.deny_items)[0]
        allowed &= ~np.isin(popular.ids, taken)
        per_category = Counter(int(category) for category in taken_categories)
        fill: list[int] = []
        for item, category in zip(popular.ids[allowed], popular.categories[allowed], strict=True):
            if per_category[int(category)] < cap:
                per_category[int(category)] += 1
                fill.append(int(item))
                if count + len(fill) == self.topk:
                    break
        return np.asarray(fill, dtype=np.int32)

    def _popular(self, past: NDArray[Any]) -> NDArray[np.int32]:
        """The most popular items the user has not had and the rules allow, -1 padded."""
        popular = self.state.ids
        allowed = popular[~excluded_mask(popular[None, :], past[None, :], self.rules.deny_items)[0]]
        answer = np.full(self.topk, -1, dtype=np.int32)
        answer[: min(self.topk, len(allowed))] = allowed[: self.topk]
        return answer

    def _sort_keys(self, scores: NDArray[np.float32]) -> NDArray[np.float64]:
        if self.temperature == 0:
            return scores.astype(np.float64)
        gumbel = -np.log(-np.log(np.random.default_rng().uniform(1e-12, 1.0, scores.shape)))
        return np.asarray(scores / self.temperature + gumbel, dtype=np.float64)
