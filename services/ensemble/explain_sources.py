"""The explain document's sources: what each candidate list held, what the filter removed and
what the merge handed to ranking (a view over a finished pass's columns; see explain.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.stages import (
    FilterCandidates,
    MergeCandidates,
    RetrieveCandidates,
)
from services.ensemble.stages.base import Columns

Document = dict[str, Any]


class SourcesView:
    """The candidate sources, the filter and the merge of one pass (mixed into `Explainer`)."""

    columns: Columns
    tower: RetrieveCandidates
    merge: MergeCandidates | None
    filter: FilterCandidates
    deny: frozenset[int]

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
                    {"item_id": item, "score": number(by_id.get(item))}
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
        coclicked = coclick_candidates(source.coclick, history, self.merge.candidate_count)
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


def number(value: float | None) -> float | None:
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
