"""Stage: the Two-Tower's retrieved ids merged with the second candidate source.

The second source is `candidates.second_source` (items co-clicked with the user's past items,
the most clicked of the user's segment and the most clicked overall, in the build's order),
merged by `candidates.merge_candidates` with the build's `tower_share`: the same functions
and settings the build chose (training/merge_choice.py) and the offline evaluation
measured (training/evaluate.py), so the served candidates are the ones behind its merged
recall@100.
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
    CoClickTable,
    IdArray,
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


@dataclass(frozen=True)
class SecondSource:
    """The loaded artifacts: the co-click table, the most clicked item ids (best first) and,
    for builds that have them, the most clicked per user segment."""

    coclick: CoClickTable
    popular_ids: NDArray[np.int32]
    segments: SegmentLists | None = None


def read_second_source(coclick: Path, popular: Path, segments: Path | None) -> SecondSource:
    """The build's `coclick.parquet` (item_id, neighbour_id, score), `popular_items.parquet`
    (item_id, most clicked first) and `segment_popular.parquet` (segment, item_id, best first
    per segment) if it has one."""
    import pyarrow.parquet as pq

    lists = None
    if segments is not None:
        rows = pq.read_table(segments, columns=["segment", "item_id"])
        lists = SegmentLists.from_columns(
            rows.column("segment").to_numpy(), rows.column("item_id").to_numpy()
        )
    pairs = pq.read_table(coclick, columns=["item_id", "neighbour_id", "score"])
    table = CoClickTable.from_columns(
        pairs.column("item_id").to_numpy(),
        pairs.column("neighbour_id").to_numpy(),
        pairs.column("score").to_numpy(),
    )
    popular_ids = pq.read_table(popular, columns=["item_id"]).column("item_id").to_numpy()
    return SecondSource(table, np.asarray(popular_ids, dtype=np.int32), lists)


class MergeCandidates(Stage):
    """`retrieved` (the tower's ids, best first, over-fetched by the user's past items) and the
    second source -> `merged` [users, K]: interleaved by rank with `tower_share` of the places
    to the tower, without repeats, past or denied items; -1 only when both lists are used up.

    The second source gives K ids per user (as in the offline evaluation). The artifact is a
    folder holding the build's coclick.parquet, popular_items.parquet and, when the build has
    one, segment_popular.parquet, whose segments are keyed by the `segment_columns` (user
    features an earlier stage wrote).
    """

    artifact = "second_source"

    def __init__(
        self,
        files: SourceFiles,
        topk: int,
        tower_share: float,
        rules: Rules,
        columns: tuple[str, str, str],
        segment_columns: tuple[str, ...] = (),
        order: tuple[str, ...] = DEFAULT_ORDER,
    ) -> None:
        if not 0.0 <= tower_share <= 1.0:
            raise ValueError(f"tower_share must be within [0, 1], got {tower_share}")
        if (files.segments is None) != (not segment_columns):
            raise ValueError("segment lists and the columns that key them come together")
        for path in (files.coclick, files.popular, files.segments):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"MergeCandidates: artifact {path} is missing")
        retrieved, past, merged = columns
        super().__init__(
            reads=(retrieved, past, *segment_columns),
            writes={merged: (np.int32, PER_USER_LIST)},
        )
        self.files = {COCLICK_FILE: files.coclick, POPULAR_FILE: files.popular}
        if files.segments is not None:
            self.files[SEGMENT_FILE] = files.segments
        self.segment_columns = tuple(segment_columns)
        self.order = check_order(order)
        self.topk, self.tower_share, self.rules, self.merged = topk, tower_share, rules, merged

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
            self._state = read_second_source(coclick, popular, paths.get(SEGMENT_FILE))

    def run(self, columns: Columns) -> Columns:
        retrieved, past = columns[self.reads[0]], columns[self.reads[1]]
        history = [row[row >= 0] for row in past]
        denied = self.rules.deny_array
        excluded = [np.concatenate([row, denied]) for row in history] if len(denied) else history
        extra = self.second_lists(columns, history)
        merged = merge_candidates(retrieved, extra, excluded, self.topk, self.tower_share)
        return {self.merged: merged}

    def second_lists(self, columns: Columns, history: list[NDArray[Any]]) -> IdArray:
        """int32 [users, K]: the second source's ids per user, as `run` merges them."""
        source: SecondSource = self.state
        rows = self.segment_rows(columns, history)
        return second_source(
            source.coclick, source.popular_ids, history, self.topk, rows, self.order
        )

    def segment_rows(self, columns: Columns, history: list[NDArray[Any]]) -> IdArray | None:
        """Per user, the most clicked items of their segment, as wide as a row can read."""
        source: SecondSource = self.state
        if source.segments is None or "segment_popular" not in self.order:
            return None
        keys = segment_keys([columns[name] for name in self.segment_columns])
        width = readable_width(history, self.topk)
        return source.segments.rows(keys, width)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["files"] = dict.fromkeys(self.files)  # build-time paths: the export has copies
        return state


@dataclass(frozen=True)
class SourceFiles:
    """The build's files behind the second source (None: copied into the export already)."""

    coclick: Path | None
    popular: Path | None
    segments: Path | None = None


def second_source_stage(
    build_dir: Path,
    manifest: dict[str, Any],
    topk: int,
    rules: Rules,
    columns: tuple[str, str, str],
) -> MergeCandidates | None:
    """The build's merge stage, reading and writing `columns` (retrieved, past, merged), or
    None for a build without a co-click artifact (builds before the second source: the
    graph serves the tower's candidates alone, as those builds were evaluated)."""
    artifacts = manifest["artifacts"]
    if "coclick" not in artifacts:
        return None
    settings = manifest.get("candidates", {})
    if "tower_share" not in settings:
        raise ValueError(
            f"{build_dir}/manifest.json lists a coclick artifact but no candidates.tower_share"
        )
    segment_file = artifacts.get("segment_popular")
    files = SourceFiles(
        build_dir / str(artifacts["coclick"]),
        build_dir / str(artifacts["popular_items"]),
        build_dir / str(segment_file) if segment_file else None,
    )
    segment_columns = tuple(settings.get("segment_columns", ())) if segment_file else ()
    if segment_file and not segment_columns:
        raise ValueError(
            f"{build_dir}/manifest.json lists a segment_popular artifact but no "
            "candidates.segment_columns"
        )
    order = check_order(settings.get("second_source", DEFAULT_ORDER))
    if "segment_popular" in order and not segment_file:
        raise ValueError(
            f"{build_dir}/manifest.json: the second source names segment_popular, "
            "but the build has no segment_popular artifact"
        )
    return MergeCandidates(
        files, topk, float(settings["tower_share"]), rules, columns, segment_columns, order
    )
