"""Stage: each candidate's final score, the build's weighted sum of the stages' scores.

`services.ensemble.final_score` holds the sum; this stage gathers the four parts for a batch:
the DLRM's click probability (an earlier stage's column), the Two-Tower's inner product (the
query column and the build's item vectors), the item-item model's weights summed over the
user's history (clicks, or every item shown: the column the graph hands it) and the item's
train clicks. Only the parts the build weighs are computed, and only their artifacts loaded.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.candidates import SegmentLists, segment_keys
from services.ensemble.final_score import (
    DenseItemItem,
    ItemLookup,
    ScoreWeights,
    final_scores,
    inner_products,
    logit,
    reciprocal_ranks,
)
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage

ITEMITEM_FILE = "itemitem_weights.npz"
EMBEDDINGS_FILE = "item_embeddings.parquet"
CLICKS_FILE = "item_clicks.parquet"
SEGMENT_FILE = "segment_popular.parquet"
PART_FILES = {
    "itemitem": ITEMITEM_FILE,
    "retrieval": EMBEDDINGS_FILE,
    "popularity": CLICKS_FILE,
    "segment": SEGMENT_FILE,
}
"""The artifact each part reads (the ranking part reads the DLRM's column only)."""


@dataclass(frozen=True)
class ScoreInputs:
    """The columns ScoreCandidates reads."""

    candidates: str
    """Item ids [users, K]."""
    ranking: str
    """The DLRM's click probability, one per candidate."""
    item_found: str
    """Whether each candidate has features (those without score -inf)."""
    query: str
    """The query tower's vector per user."""
    history: str
    """The item ids the item-item model reads per user, -1 padded."""
    segment_columns: tuple[str, ...] = ()
    """The user columns whose values key the user's segment."""


@dataclass
class ScoreState:
    """The loaded artifacts of the weighed parts (None: the part is not weighed)."""

    itemitem: DenseItemItem | None = None
    rows: ItemLookup | None = None
    """Item id -> its row in `vectors` and `log_clicks` (one lookup a pass serves both)."""
    vectors: NDArray[np.float32] | None = None
    log_clicks: NDArray[np.float32] | None = None
    """log(1 + train clicks), 0 for items without any."""
    segments: SegmentLists | None = None


class ScoreCandidates(Stage):
    """The candidates' parts -> `output`: one final score per candidate (-inf for those that
    cannot be ordered). `files`: the build's artifact of each weighed part (`PART_FILES`)."""

    artifact = "final_score"
    _online_vectors: Any = None
    """ItemOverlay of the tower vectors of items added or changed at run time, once any was."""
    _proxies: Any = None
    """ItemOverlay: item added at run time -> its proxy (online_items.py), once any was."""
    runtime_attributes = ("_online_vectors", "_proxies")

    def __init__(
        self,
        files: dict[str, Path | None],
        weights: ScoreWeights,
        inputs: ScoreInputs,
        output: str,
    ) -> None:
        used = set(weights.used())
        reads = [inputs.candidates, inputs.item_found]
        reads += [inputs.ranking] if "ranking" in used else []
        reads += [inputs.query] if "retrieval" in used else []
        reads += [inputs.history] if "itemitem" in used else []
        if "segment" in used and not inputs.segment_columns:
            raise ValueError("the segment part needs the columns that key a user's segment")
        reads += list(inputs.segment_columns) if "segment" in used else []
        super().__init__(reads=reads, writes={output: (np.float32, PER_USER_LIST)})
        self.files = {part: files.get(part) for part in PART_FILES if part in used}
        for part, path in self.files.items():
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"ScoreCandidates: the {part} artifact {path} is missing")
        self.weights, self.inputs, self.output = weights, inputs, output

    def save_artifacts(self, artifact_path: Any = None) -> None:
        if not artifact_path or None in self.files.values():
            return
        target = Path(artifact_path) / self.artifact
        target.mkdir(parents=True, exist_ok=True)
        for part, path in self.files.items():
            shutil.copy2(str(path), target / PART_FILES[part])

    def load_artifacts(self, artifact_path: Any = None) -> None:
        exported = Path(artifact_path) / self.artifact if artifact_path else None
        paths: dict[str, Path | None] = dict(self.files)
        if exported is not None and exported.is_dir():
            paths = {part: exported / PART_FILES[part] for part in self.files}
        if all(path is not None for path in paths.values()):
            self._state = read_parts({k: v for k, v in paths.items() if v is not None})

    def run(self, columns: Columns) -> Columns:
        parts, valid = self.parts(columns)
        return {self.output: final_scores(parts, self.weights, valid).reshape(-1)}

    def parts(self, columns: Columns) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.bool_]]:
        """Each weighed part [users, K] and which candidates can be ordered."""
        names = self.inputs
        candidates = columns[names.candidates]
        users = candidates.shape[0]
        valid = (candidates >= 0) & columns[names.item_found].reshape(users, -1).astype(bool)
        state: ScoreState = self.state
        parts: dict[str, NDArray[np.float32]] = {}
        own = candidates
        candidates = self.proxied(candidates)  # the build's data: of the proxies
        if self.weights.ranking:
            probabilities = columns[names.ranking].reshape(users, -1)
            parts["ranking"] = logit(np.where(valid, probabilities, 0.5))
        rows = state.rows.find(candidates) if state.rows is not None else None
        if state.vectors is not None and state.rows is not None:
            own_rows = state.rows.find(own) if rows is None or candidates is not own else rows
            parts["retrieval"] = inner_products(columns[names.query], state.vectors, own_rows)
            if self._online_vectors is not None:
                overlay_products(
                    parts["retrieval"], columns[names.query], self._online_vectors, own
                )
        if state.itemitem is not None:
            history = [row[row >= 0] for row in columns[names.history]]
            parts["itemitem"] = state.itemitem.scores(history, candidates)
        if state.log_clicks is not None and rows is not None:
            popularity = np.where(rows >= 0, state.log_clicks[np.maximum(rows, 0)], 0.0)
            parts["popularity"] = popularity.astype(np.float32)
        if state.segments is not None:
            keys = segment_keys([columns[name] for name in names.segment_columns])
            parts["segment"] = reciprocal_ranks(state.segments.ranks_of(keys, candidates))
        return parts, valid

    def items_changed(
        self, ids: Any, features: Any, vectors: NDArray[np.float32], proxies: NDArray[np.int64]
    ) -> None:
        """Items added or changed at run time (online_items.py): their tower vectors, and
        their proxies, whose popularity, segment and item-item parts they take."""
        from services.ensemble.online_items import ItemOverlay

        if self._proxies is None:
            self._proxies = ItemOverlay(1, np.int64)
        self._proxies.update(ids, proxies.reshape(-1, 1))
        if "retrieval" not in self.files:
            return
        if self._online_vectors is None:
            self._online_vectors = ItemOverlay(vectors.shape[1], np.float32)
        self._online_vectors.update(ids, vectors)

    def proxied(self, candidates: NDArray[Any]) -> NDArray[Any]:
        """`candidates` with each item added at run time replaced by its proxy (if it has one)."""
        if self._proxies is None:
            return candidates
        rows = self._proxies.rows(candidates)
        proxies = np.where(rows >= 0, self._proxies.values[np.maximum(rows, 0), 0], -1)
        return np.where(proxies >= 0, proxies, candidates).astype(candidates.dtype)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["files"] = dict.fromkeys(self.files)  # build-time paths: the export has copies
        return state


def overlay_products(
    part: NDArray[np.float32], queries: NDArray[Any], overlay: Any, candidates: NDArray[Any]
) -> None:
    """Replace, in place, the inner products of the candidates `overlay` (an ItemOverlay of
    vectors) holds with their user's query."""
    rows = overlay.rows(candidates)
    users, slots = np.nonzero(rows >= 0)
    if len(users):
        picked = overlay.values[rows[users, slots]]
        part[users, slots] = np.einsum("nd,nd->n", queries[users], picked)


def read_parts(paths: dict[str, Path]) -> ScoreState:
    """The artifacts of the weighed parts: `paths` part -> file."""
    import pyarrow.parquet as pq

    state = ScoreState()
    if "itemitem" in paths:
        with np.load(paths["itemitem"]) as weights:
            state.itemitem = DenseItemItem.of(weights["item_ids"], weights["weights"])
    ids = None
    if "retrieval" in paths:
        table = pq.read_table(paths["retrieval"])
        ids = table.column("item_id").to_numpy()
        vectors = np.asarray(table.column("embedding").combine_chunks().flatten())
        state.vectors = vectors.reshape(len(ids), -1).astype(np.float32)
    if "popularity" in paths:
        table = pq.read_table(paths["popularity"], columns=["item_id", "clicks"])
        clicked = table.column("item_id").to_numpy()
        ids = clicked if ids is None else ids
        at = ItemLookup.of(ids).find(clicked)
        log_clicks = np.zeros(len(ids), np.float32)
        clicks = table.column("clicks").to_numpy().astype(np.float64)
        log_clicks[at[at >= 0]] = np.log1p(clicks[at >= 0])
        state.log_clicks = log_clicks
    if ids is not None:
        state.rows = ItemLookup.of(ids)
    if "segment" in paths:
        table = pq.read_table(paths["segment"], columns=["segment", "item_id"])
        state.segments = SegmentLists.from_columns(
            table.column("segment").to_numpy(), table.column("item_id").to_numpy()
        )
    return state
