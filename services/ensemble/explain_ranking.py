"""The explain document's ranking: every candidate's final score and its parts, how the build
orders, and the candidates the category cap passed over (a view over a finished pass's
columns; see explain.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.explain_sources import Document, number
from services.ensemble.stages import FetchCatalogueFeatures, FilterCandidates, OrderByScore
from services.ensemble.stages.base import Columns
from services.ensemble.stages.score_candidates import ScoreCandidates

ATTRIBUTES = {"item_category": "category", "item_shop": "shop", "item_brand": "brand"}
"""Item feature columns shown with each item (encoded values), and their names in a document."""


class RankingView:
    """Ranking and order of one pass (mixed into `Explainer`)."""

    columns: Columns
    filter: FilterCandidates
    items_stage: FetchCatalogueFeatures
    order: OrderByScore
    scorer: ScoreCandidates | None
    parts: dict[str, NDArray[np.float32]]

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
        proxies = self.scorer.proxied(candidates) if self.scorer is not None else candidates
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
                "score": number(float(scores[column])) or 0.0,
                "found": bool(found[column]),
            }
            if proxies[column] != item:  # added at run time: the build's parts are its proxy's
                entry["proxy"] = int(proxies[column])
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
