"""Stage: the Two-Tower's retrieved ids merged with the second candidate source.

The second source is `candidates.second_source` (the items the build's item-item model links
to the user's history, items co-clicked with the user's past items, the most clicked of the
user's segment and the most clicked overall, in the build's order), merged by
`candidates.merge_candidates` with the build's `tower_share`: the same functions and settings
the build chose (training/build/merge_choice.py) and the offline evaluation measured
(training/evaluation/evaluate.py), so the served candidates are those behind its recall@100.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.candidates import (
    DEFAULT_ORDER,
    IdArray,
    ItemItemInput,
    NeighbourTable,
    SegmentLists,
    check_order,
    merge_candidates,
    readable_width,
    second_source,
    segment_keys,
)
from services.ensemble.rules import Rules
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage

COCLICK_FILE = "coclick.parquet"
POPULAR_FILE = "popular_items.parquet"
SEGMENT_FILE = "segment_popular.parquet"
ITEMITEM_FILE = "itemitem.parquet"


@dataclass(frozen=True)
class SecondSource:
    """The loaded artifacts: the co-click table, the most clicked item ids (best first) and,
    for builds that have them, the most clicked per user segment and the item-item weights."""

    coclick: NeighbourTable
    popular_ids: NDArray[np.int32]
    segments: SegmentLists | None = None
    itemitem: NeighbourTable | None = None


def read_second_source(
    coclick: Path, popular: Path, segments: Path | None, itemitem: Path | None = None
) -> SecondSource:
    """The build's `coclick.parquet` (item_id, neighbour_id, score), `popular_items.parquet`
    (item_id, most clicked first), and if it has them `segment_popular.parquet` (segment,
    item_id, best first per segment) and `itemitem.parquet` (as coclick.parquet)."""
    import pyarrow.parquet as pq

    lists = None
    if segments is not None:
        rows = pq.read_table(segments, columns=["segment", "item_id"])
        lists = SegmentLists.from_columns(
            rows.column("segment").to_numpy(), rows.column("item_id").to_numpy()
        )
    popular_ids = pq.read_table(popular, columns=["item_id"]).column("item_id").to_numpy()
    return SecondSource(
        read_neighbours(coclick),
        np.asarray(popular_ids, dtype=np.int32),
        lists,
        read_neighbours(itemitem) if itemitem is not None else None,
    )


def read_neighbours(path: Path) -> NeighbourTable:
    """A table of weighted neighbours (item_id, neighbour_id, score)."""
    import pyarrow.parquet as pq

    pairs = pq.read_table(path, columns=["item_id", "neighbour_id", "score"])
    return NeighbourTable.from_columns(
        pairs.column("item_id").to_numpy(),
        pairs.column("neighbour_id").to_numpy(),
        pairs.column("score").to_numpy(),
    )


@dataclass(frozen=True)
class MergeColumns:
    """The columns MergeCandidates reads and writes."""

    retrieved: str
    """The tower's ids, best first."""
    past: str
    """The user's clicked items: the co-click list's history."""
    merged: str
    """Written: the K candidates."""
    excluded: str = ""
    """The items the filter removes (default: `past`)."""
    itemitem_history: str = ""
    """The items the item-item model reads (default: `past`)."""

    def reads(self) -> tuple[str, ...]:
        extra = (self.excluded, self.itemitem_history)
        return tuple(dict.fromkeys((self.retrieved, self.past, *(c for c in extra if c))))


class MergeCandidates(Stage):
    """`retrieved` (the tower's ids, best first, over-fetched by what the filter removes) and
    the second source -> `merged` [users, K] (K: `candidate_count`): interleaved by rank with
    `tower_share` of the places to the tower, without repeats, removed (`excluded`) or denied
    items; -1 only when both lists are used up.

    The second source gives K ids per user (as in the offline evaluation). The artifact is a
    folder holding the build's coclick.parquet, popular_items.parquet and, when the build has
    them, segment_popular.parquet, whose segments are keyed by the `segment_columns` (user
    features an earlier stage wrote), and itemitem.parquet.
    """

    artifact = "second_source"

    def __init__(
        self,
        files: SourceFiles,
        candidate_count: int,
        tower_share: float,
        rules: Rules,
        columns: MergeColumns,
        segment_columns: tuple[str, ...] = (),
        order: tuple[str, ...] = DEFAULT_ORDER,
    ) -> None:
        if not 0.0 <= tower_share <= 1.0:
            raise ValueError(f"tower_share must be within [0, 1], got {tower_share}")
        if (files.segments is None) != (not segment_columns):
            raise ValueError("segment lists and the columns that key them come together")
        for path in (files.coclick, files.popular, files.segments, files.itemitem):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"MergeCandidates: artifact {path} is missing")
        super().__init__(
            reads=(*columns.reads(), *segment_columns),
            writes={columns.merged: (np.int32, PER_USER_LIST)},
        )
        self.files = {COCLICK_FILE: files.coclick, POPULAR_FILE: files.popular}
        if files.segments is not None:
            self.files[SEGMENT_FILE] = files.segments
        if files.itemitem is not None:
            self.files[ITEMITEM_FILE] = files.itemitem
        self.segment_columns = tuple(segment_columns)
        self.order = check_order(order)
        self.columns = columns
        self.candidate_count, self.tower_share, self.rules = candidate_count, tower_share, rules
        self.merged = columns.merged

    def save_artifacts(self, artifact_path: Any = None) -> None:
        if not artifact_path or None in self.files.values():
            return
        target = Path(artifact_path) / self.artifact
        target.mkdir(parents=True, exist_ok=True)
        for name, path in self.files.items():
            shutil.copy2(str(path), target / name)

    def load_artifacts(self, artifact_path: Any = None) -> None:
        exported = Path(artifact_path) / self.artifact if artifact_path else None
        if exported is not None and exported.is_dir():
            paths: dict[str, Path | None] = {name: exported / name for name in self.files}
        else:
            paths = dict(self.files)
        coclick, popular = paths[COCLICK_FILE], paths[POPULAR_FILE]
        if coclick is not None and popular is not None:
            self._state = read_second_source(
                coclick, popular, paths.get(SEGMENT_FILE), paths.get(ITEMITEM_FILE)
            )

    def run(self, columns: Columns) -> Columns:
        retrieved = columns[self.columns.retrieved]
        histories = self.histories(columns)
        removed = histories[self.columns.excluded or self.columns.past]
        denied = self.rules.deny_array
        excluded = [np.concatenate([row, denied]) for row in removed] if len(denied) else removed
        extra = self.second_lists(columns, histories)
        merged = merge_candidates(
            retrieved, extra, excluded, self.candidate_count, self.tower_share
        )
        return {self.merged: merged}

    def histories(self, columns: Columns) -> dict[str, list[NDArray[Any]]]:
        """Per history column this stage reads (past, removed, the item-item model's), each
        user's items; a column named twice is read once (the lists then see the same rows)."""
        names = (self.columns.past, self.columns.excluded, self.columns.itemitem_history)
        return {name: _rows(columns[name]) for name in dict.fromkeys(n for n in names if n)}

    def removed(self, columns: Columns) -> list[NDArray[Any]]:
        """Per user, the items the filter removes (their past or shown items)."""
        return _rows(columns[self.columns.excluded or self.columns.past])

    def second_lists(
        self, columns: Columns, histories: dict[str, list[NDArray[Any]]] | None = None
    ) -> IdArray:
        """int32 [users, K]: the second source's ids per user, as `run` merges them."""
        source: SecondSource = self.state
        histories = histories or self.histories(columns)
        history = histories[self.columns.past]
        removed = histories[self.columns.excluded or self.columns.past]
        itemitem = None
        if source.itemitem is not None:
            read = histories[self.columns.itemitem_history or self.columns.past]
            itemitem = ItemItemInput(source.itemitem, read)
        rows = self.segment_rows(columns, removed)
        return second_source(
            source.coclick,
            source.popular_ids,
            history,
            self.candidate_count,
            rows,
            self.order,
            itemitem,
            removed,
        )

    def segment_rows(self, columns: Columns, removed: list[NDArray[Any]]) -> IdArray | None:
        """Per user, the most clicked items of their segment, as wide as a row can read."""
        source: SecondSource = self.state
        if source.segments is None or "segment_popular" not in self.order:
            return None
        keys = segment_keys([columns[name] for name in self.segment_columns])
        width = readable_width(removed, self.candidate_count)
        return source.segments.rows(keys, width)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["files"] = dict.fromkeys(self.files)  # build-time paths: the export has copies
        return state


def _rows(padded: NDArray[Any]) -> list[NDArray[Any]]:
    return [row[row >= 0] for row in padded]


@dataclass(frozen=True)
class SourceFiles:
    """The build's files behind the second source (None: copied into the export already)."""

    coclick: Path | None
    popular: Path | None
    segments: Path | None = None
    itemitem: Path | None = None


def second_source_stage(
    build_dir: Path,
    manifest: dict[str, Any],
    candidate_count: int,
    rules: Rules,
    columns: MergeColumns,
) -> MergeCandidates | None:
    """The build's merge stage, reading and writing `columns`, or None for a build without a
    co-click artifact (builds before the second source: the graph serves the tower's
    candidates alone, as those builds were evaluated)."""
    artifacts = manifest["artifacts"]
    if "coclick" not in artifacts:
        return None
    settings = manifest.get("candidates", {})
    if "tower_share" not in settings:
        raise ValueError(
            f"{build_dir}/manifest.json lists a coclick artifact but no candidates.tower_share"
        )
    segment_file = artifacts.get("segment_popular")
    order = check_order(settings.get("second_source", DEFAULT_ORDER))
    itemitem_file = artifacts.get("itemitem") if "itemitem" in order else None
    files = SourceFiles(
        build_dir / str(artifacts["coclick"]),
        build_dir / str(artifacts["popular_items"]),
        build_dir / str(segment_file) if segment_file else None,
        build_dir / str(itemitem_file) if itemitem_file else None,
    )
    segment_columns = tuple(settings.get("segment_columns", ())) if segment_file else ()
    if segment_file and not segment_columns:
        raise ValueError(
            f"{build_dir}/manifest.json lists a segment_popular artifact but no "
            "candidates.segment_columns"
        )
    if "itemitem" in order and not itemitem_file:
        raise ValueError(
            f"{build_dir}/manifest.json: the second source names itemitem, "
            "but the build has no itemitem artifact"
        )
    if "segment_popular" in order and not segment_file:
        raise ValueError(
            f"{build_dir}/manifest.json: the second source names segment_popular, "
            "but the build has no segment_popular artifact"
        )
    return MergeCandidates(
        files,
        candidate_count,
        float(settings["tower_share"]),
        rules,
        columns,
        segment_columns,
        order,
    )
