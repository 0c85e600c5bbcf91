"""Stage: the Two-Tower's retrieved ids merged with the second candidate source.

The second source is `candidates.second_source` (items co-clicked with the user's past items,
then the most clicked ones), merged by `candidates.merge_candidates` with the build's
`tower_share`: the same functions and settings the offline evaluation measured
(training/evaluate.py), so the served candidates are the ones behind its merged recall@100.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.candidates import CoClickTable, merge_candidates, second_source
from services.ensemble.rules import Rules
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage

COCLICK_FILE = "coclick.parquet"
POPULAR_FILE = "popular_items.parquet"


@dataclass(frozen=True)
class SecondSource:
    """The loaded artifacts: the co-click table and the most clicked item ids, best first."""

    coclick: CoClickTable
    popular_ids: NDArray[np.int32]


def read_second_source(coclick: Path, popular: Path) -> SecondSource:
    """The build's `coclick.parquet` (item_id, neighbour_id, score) and
    `popular_items.parquet` (item_id, most clicked first)."""
    import pyarrow.parquet as pq

    pairs = pq.read_table(coclick, columns=["item_id", "neighbour_id", "score"])
    table = CoClickTable.from_columns(
        pairs.column("item_id").to_numpy(),
        pairs.column("neighbour_id").to_numpy(),
        pairs.column("score").to_numpy(),
    )
    popular_ids = pq.read_table(popular, columns=["item_id"]).column("item_id").to_numpy()
    return SecondSource(table, np.asarray(popular_ids, dtype=np.int32))


class MergeCandidates(Stage):
    """`retrieved` (the tower's ids, best first, over-fetched by the user's past items) and the
    second source -> `merged` [users, K]: interleaved by rank with `tower_share` of the places
    to the tower, without repeats, past or denied items; -1 only when both lists are used up.

    The second source gives K ids per user (as in the offline evaluation). The artifact is a
    folder holding the build's coclick.parquet and popular_items.parquet.
    """

    artifact = "second_source"

    def __init__(
        self,
        coclick: Path | None,
        popular: Path | None,
        topk: int,
        tower_share: float,
        rules: Rules,
        retrieved: str,
        past: str,
        merged: str,
    ) -> None:
        if not 0.0 <= tower_share <= 1.0:
            raise ValueError(f"tower_share must be within [0, 1], got {tower_share}")
        for path in (coclick, popular):
            if path is not None and not path.is_file():
                raise FileNotFoundError(f"MergeCandidates: artifact {path} is missing")
        super().__init__(reads=(retrieved, past), writes={merged: (np.int32, PER_USER_LIST)})
        self.files = {COCLICK_FILE: coclick, POPULAR_FILE: popular}
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
        coclick, popular = self.files[COCLICK_FILE], self.files[POPULAR_FILE]
        if exported is not None and exported.is_dir():
            self._state = read_second_source(exported / COCLICK_FILE, exported / POPULAR_FILE)
        elif coclick is not None and popular is not None:
            self._state = read_second_source(coclick, popular)

    def run(self, columns: Columns) -> Columns:
        retrieved, past = (columns[name] for name in self.reads)
        history = [row[row >= 0] for row in past]
        denied = self.rules.deny_array
        excluded = [np.concatenate([row, denied]) for row in history] if len(denied) else history
        source: SecondSource = self.state
        extra = second_source(source.coclick, source.popular_ids, history, self.topk)
        merged = merge_candidates(retrieved, extra, excluded, self.topk, self.tower_share)
        return {self.merged: merged}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["files"] = dict.fromkeys(self.files)  # build-time paths: the export has copies
        return state


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
    return MergeCandidates(
        build_dir / str(artifacts["coclick"]),
        build_dir / str(artifacts["popular_items"]),
        topk,
        float(settings["tower_share"]),
        rules,
        *columns,
    )
