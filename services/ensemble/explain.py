"""The explain view: one pass of the stages that keeps every column, and what each stage did.

Taken only for requests that ask for it (the contract's EXPLAIN_INPUT); the plain answer's
path (`Executor._run`) is untouched. `explain_pass` runs the stages as `_run` does, timing
each, and returns the contract's outputs plus one JSON-ready document per user, built from the
pass's own columns and the stages' loaded state (nothing is recomputed differently):

* `user_features`: found or not, and the encoded values the models were given;
* `past_items`: the union of the build's and the online interaction sets, with attributes;
* `sources`: the Two-Tower's faiss list (inner-product scores) and, for builds with a second
  source, its lists in the build's order: the item-item model's items (summed weight), the
  co-clicked items (summed co-click score), the segment's popular and the most clicked (rank);
* `filter`: the sources' items dropped as seen (clicked before), shown (shown before without a
  click, for builds whose filter removes those) or denied (the rules' deny-list);
* `merged`: the K candidates handed to ranking, in merge order, with their source;
* `ordering`: how the build orders (the final score's weights, the filter);
* `ranking`: every remaining candidate's final score, the DLRM's click probability, each
  weighed part's value and its share of the score, and attributes, best first;
* `category_cap`: candidates passed over for the per-category cap;
* `final`: the answer, with attributes; `timings_ms`: each stage's time in this pass.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.contract import INPUT, OUTPUTS
from services.ensemble.stages import (
    FetchCatalogueFeatures,
    FetchFeatures,
    FetchPastItems,
    FilterCandidates,
    MergeCandidates,
    OrderByScore,
    RetrieveCandidates,
    Stage,
)
from services.ensemble.stages.base import Columns
from services.ensemble.stages.score_candidates import ScoreCandidates

Document = dict[str, Any]
ATTRIBUTES = {"item_category": "category", "item_shop": "shop", "item_brand": "brand"}
"""Item feature columns shown with each item (encoded values), and their names in a document."""


def explain_pass(
    stages: list[Stage], user_ids: NDArray[np.int32]
) -> tuple[Columns, list[Document]]:
    """The contract's outputs for `user_ids` and one explain document per user."""
    columns: Columns = {INPUT: user_ids}
    timings = []
    for stage in stages:
        start = time.perf_counter()
        columns.update(stage.run(columns))
        timings.append({"stage": stage.label, "ms": (time.perf_counter() - start) * 1e3})
    start = time.perf_counter()
    documents = Explainer(stages, columns).documents()
    for document in documents:
        document["timings_ms"] = timings
        document["explain_ms"] = (time.perf_counter() - start) * 1e3
    return {name: columns[name] for name in OUTPUTS}, documents


def _first(stages: list[Stage], kind: type[Any], exclude: type[Any] | None = None) -> Any:
    for stage in stages:
        if isinstance(stage, kind) and not (exclude and isinstance(stage, exclude)):
            return stage
    return None


class Explainer:
    """Reads a finished pass's columns through the stages that wrote them."""

    def __init__(self, stages: list[Stage], columns: Columns) -> None:
        self.columns = columns
        self.users_stage: FetchFeatures = _first(stages, FetchFeatures, FetchCatalogueFeatures)
        self.past_stage: FetchPastItems = _first(stages, FetchPastItems)
        self.tower: RetrieveCandidates = _first(stages, RetrieveCandidates)
        self.merge: MergeCandidates | None = _first(stages, MergeCandidates)
        self.filter: FilterCandidates = _first(stages, FilterCandidates)
        self.items_stage: FetchCatalogueFeatures = _first(stages, FetchCatalogueFeatures)
        self.order: OrderByScore = _first(stages, OrderByScore)
        self.scorer: ScoreCandidates | None = _first(stages, ScoreCandidates)
        self.deny = frozenset(int(i) for i in self.order.rules.deny_items)
        self.parts: dict[str, NDArray[np.float32]] = {}
        if self.scorer is not None:
            self.parts, _ = self.scorer.parts(columns)

    def documents(self) -> list[Document]:
        users = self.columns[INPUT].reshape(-1)
        past = self.columns[self.past_stage.past]
        history = [row[row >= 0] for row in past]
        removed = self.columns[self.filter.reads[1]]
        tower = self._tower_lists()
        second = self._second_lists(history)
        return [
            self._document(
                row,
                int(user),
                history[row],
                removed[row][removed[row] >= 0],
                tower[row],
                second[row],
            )
            for row, user in enumerate(users)
        ]

    # -- one user ------------------------------------------------------------------------------
    def _document(
        self,
        row: int,
        user: int,
        history: NDArray[Any],
        removed: NDArray[Any],
        tower: list[Document],
        second: list[Document],
    ) -> Document:
        ids, scores, fallback = (self.columns[name][row] for name in OUTPUTS)
        ranking = self._ranking(row)
        final = [
            {**item, "score": float(score)}
            for item, score in zip(self._items(ids), scores.tolist(), strict=True)
            if item["item_id"] >= 0
        ]
        return {
            "user_id": user,
            "fallback": bool(np.asarray(fallback).reshape(-1)[0]),
            "user_features": self._user_features(row),
            "past_items": self._items(history),
            "sources": [
                {"name": "two_tower", "candidates": tower},
                *([{"name": "second_source", "candidates": second}] if self.merge else []),
            ],
            "filter": {"removed": self._removed(history, removed, tower + second)},
            "merged": self._merged(row, tower, second),
            "ordering": self._ordering(),
            "ranking": ranking,
            "category_cap": self._category_cap(ranking, final),
            "final": final,
        }

    def _user_features(self, row: int) -> Document:
        stage = self.users_stage
        found = bool(self.columns[stage.found].reshape(-1)[row])
        values = {name: int(self.columns[name].reshape(-1)[row]) for name in stage.features}
        return {"found": found, "values": values if found else {}}

    def _items(self, ids: NDArray[Any]) -> list[Document]:
        """Items with their attributes, read from the catalogue stage (as ranking reads them)."""
        ids = np.asarray(ids, dtype=np.int32).reshape(-1)
        stage = self.items_stage
        epochs = self.columns[stage.build_epoch].reshape(-1)
        values, found = stage.read({stage.ids: ids[None, :], stage.build_epoch: epochs[:1]})
        items = []
        for position, item in enumerate(ids.tolist()):
            attributes = {
                label: int(values[position, stage.features.index(name)])
                for name, label in ATTRIBUTES.items()
                if name in stage.features
            }
            items.append({"item_id": item, "found": bool(found[position]), **attributes})
        return items

    # -- the sources ---------------------------------------------------------------------------
    def _tower_lists(self) -> list[list[Document]]:
        """The tower's retrieved ids (the pass's column) with their faiss inner products."""
        from services.ensemble.faiss_index import search

        retrieved = self.columns[self.tower.retrieved]
        query = self.columns[self.tower.reads[0]]
        scores, ids = search(self.tower.state, query, retrieved.shape[1])
        lists = []
        for row in range(len(retrieved)):
            by_id = dict(zip(ids[row].tolist(), scores[row].tolist(), strict=True))
            lists.append(
                [
                    {"item_id": item, "score": _number(by_id.get(item))}
                    for item in retrieved[row].tolist()
                ]
            )
        return lists

    def _second_lists(self, history: list[NDArray[Any]]) -> list[list[Document]]:
        """The second source's list per user, as the merge stage computes it, each item with
        its origin, the first of the stage's lists that holds it: co-clicked (score: summed
        over the user's past items), popular in the user's segment or most clicked
        overall (score: 1 / rank in that list)."""
        if self.merge is None:
            return [[] for _ in history]
        from services.ensemble.candidates import coclick_candidates

        source, order = self.merge.state, self.merge.order
        ids = self.merge.second_lists(self.columns)
        coclicked = coclick_candidates(source.coclick, history, self.merge.topk)
        removed = self.merge.removed(self.columns)
        segment_rows = self.merge.segment_rows(self.columns, removed)
        itemitem_reads = self.merge.columns.itemitem_history or self.merge.columns.past
        itemitem_history = [row[row >= 0] for row in self.columns[itemitem_reads]]
        popular = _reciprocal_ranks(source.popular_ids)
        lists = []
        for row, past in enumerate(history):
            sums = _coclick_sums(source.coclick, past)
            weights = (
                _coclick_sums(source.itemitem, itemitem_history[row])
                if source.itemitem is not None
                else {}
            )
            found = {
                "itemitem": weights,
                "coclick": {i: sums.get(i, 0.0) for i in coclicked[row].tolist() if i >= 0},
                "segment_popular": _reciprocal_ranks(
                    segment_rows[row] if segment_rows is not None else []
                ),
                "popular_items": popular,
            }
            entries = []
            for item in ids[row][ids[row] >= 0].tolist():
                name = next((name for name in order if item in found[name]), "popular_items")
                score = found[name].get(item, 1.0 / (len(popular) + 1))
                entries.append({"item_id": item, "score": score, "origin": ORIGINS[name]})
            lists.append(entries)
        return lists

    def _removed(
        self, history: NDArray[Any], excluded: NDArray[Any], candidates: list[Document]
    ) -> list[Document]:
        """The sources' items the filter drops: seen (clicked before), then shown (shown
        before without a click, where the build removes those), then denied."""
        seen, shown = set(history.tolist()), set(excluded.tolist())
        removed, done = [], set()
        for entry in candidates:
            item = entry["item_id"]
            if item in done or (item not in shown and item not in seen and item not in self.deny):
                continue
            done.add(item)
            reason = "seen" if item in seen else "shown" if item in shown else "denied"
            source = entry.get("origin", "two_tower")
            removed.append({"item_id": item, "source": source, "reason": reason})
        return removed

    def _merged(self, row: int, tower: list[Document], second: list[Document]) -> list[Document]:
        """The filter's output (the K candidates ranked), each with the list it came from."""
        origin = {entry["item_id"]: entry.get("origin", "two_tower") for entry in second}
        origin.update({entry["item_id"]: "two_tower" for entry in tower})
        ids = self.columns[self.filter.candidates][row]
        return [
            {"item_id": item, "source": origin.get(item, "?")} for item in ids.tolist() if item >= 0
        ]

    # -- ranking and order ---------------------------------------------------------------------
    def _ordering(self) -> Document:
        if self.scorer is None:
            return {"weights": {"ranking": 1.0}}
        return {
            "weights": {k: v for k, v in self.scorer.weights.as_dict().items() if v},
            "filter": self.filter.reads[1],
            "itemitem_history": self.scorer.inputs.history,
        }

    def _ranking(self, row: int) -> list[Document]:
        """Every candidate the ranking model scored, best first, with its final score, the
        DLRM's click probability, each weighed part (its value and its share of the score:
        weight x the value standardized over the user's candidates) and attributes."""
        names = self.order.inputs
        candidates = self.columns[names.candidates][row]
        width = len(candidates)
        scores = self.columns[names.scores].reshape(-1)[row * width : (row + 1) * width]
        found = self.columns[names.item_found].reshape(-1)[row * width : (row + 1) * width]
        shares = self._shares(row, candidates, found)
        probability = self.columns[self.scorer.inputs.ranking] if self.scorer else None
        stage = self.items_stage
        ranking = []
        for column, item in enumerate(candidates.tolist()):
            if item < 0:
                continue
            attributes = {
                label: int(self.columns[name].reshape(-1)[row * width + column])
                for name, label in ATTRIBUTES.items()
                if name in stage.features
            }
            entry: Document = {
                "item_id": item,
                "score": _number(float(scores[column])) or 0.0,
                "found": bool(found[column]),
            }
            if probability is not None:
                entry["click_probability"] = float(probability.reshape(-1)[row * width + column])
            if shares:
                entry["parts"] = {
                    part: {
                        "value": float(self.parts[part][row, column]),
                        "share": float(share[column]),
                    }
                    for part, share in shares.items()
                }
            ranking.append({**entry, **attributes})
        ranking.sort(key=lambda entry: (not entry["found"], -entry["score"]))
        return ranking

    def _shares(
        self, row: int, candidates: NDArray[Any], found: NDArray[Any]
    ) -> dict[str, NDArray[np.float64]]:
        """Per weighed part, each candidate's share of its final score."""
        if self.scorer is None:
            return {}
        from services.ensemble.final_score import standardized

        valid = ((candidates >= 0) & found.astype(bool))[None, :]
        return {
            part: weight * standardized(self.parts[part][row][None, :], valid)[0]
            for part, weight in self.scorer.weights.as_dict().items()
            if weight and part in self.parts
        }

    def _category_cap(self, ranking: list[Document], final: list[Document]) -> Document:
        """The candidates that score above the last item of the answer but were passed over:
        their category had max_per_category items already (deterministic order only)."""
        cap = self.order.rules.max_per_category
        answer = {item["item_id"] for item in final}
        skipped: list[Document] = []
        fallback = bool(final) and all(item["score"] == 0.0 for item in final)
        if cap and final and not fallback and self.order.temperature == 0:
            lowest = min(item["score"] for item in final)
            skipped = [
                {key: entry[key] for key in ("item_id", "score", "category") if key in entry}
                for entry in ranking
                if entry["item_id"] not in answer and entry["found"] and entry["score"] > lowest
            ]
        return {"max_per_category": cap, "skipped": skipped}


def _number(value: float | None) -> float | None:
    """A finite float, or None (JSON has no NaN or infinity)."""
    return float(value) if value is not None and np.isfinite(value) else None


ORIGINS = {
    "itemitem": "item-item",
    "coclick": "co-clicked",
    "segment_popular": "popular in segment",
    "popular_items": "most clicked",
}
"""The explain page's name of each of the second source's lists."""


def _ranks(ids: Any) -> dict[int, int]:
    """item -> its position in a best-first list (its first, -1 pads skipped)."""
    ranks: dict[int, int] = {}
    for rank, item in enumerate(np.asarray(ids, dtype=np.int64).tolist()):
        if item >= 0:
            ranks.setdefault(item, rank)
    return ranks


def _reciprocal_ranks(ids: Any) -> dict[int, float]:
    return {item: 1.0 / (rank + 1) for item, rank in _ranks(ids).items()}


def _coclick_sums(table: Any, past: NDArray[Any]) -> dict[int, float]:
    """item -> summed weight (co-click score, item-item weight) over the user's `past` items."""
    sums: dict[int, float] = {}
    for item in np.unique(past).tolist():
        neighbours, scores = table.neighbours_of(int(item))
        for neighbour, score in zip(neighbours.tolist(), scores.tolist(), strict=True):
            sums[neighbour] = sums.get(neighbour, 0.0) + float(score)
    return sums
