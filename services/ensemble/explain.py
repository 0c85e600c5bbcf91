"""The explain view: one pass of the stages that keeps every column, and what each stage did.

Taken only for requests that ask for it (the contract's EXPLAIN_INPUT); the plain answer's
path (`Executor._run`) is untouched. `explain_pass` runs the stages as `_run` does, timing
each, and returns the contract's outputs plus one JSON-ready document per user, built from the
pass's own columns and the stages' loaded state (nothing is recomputed differently; the
sources' part in explain_sources.py, the ranking's in explain_ranking.py):

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
from services.ensemble.explain_ranking import ATTRIBUTES, RankingView
from services.ensemble.explain_sources import ORIGINS, Document, SourcesView
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

__all__ = ["ATTRIBUTES", "ORIGINS", "Document", "Explainer", "explain_pass"]


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


class Explainer(SourcesView, RankingView):
    """Reads a finished pass's columns through the stages that wrote them: the user and the
    answer here, the sources in `SourcesView`, ranking and order in `RankingView`."""

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
