"""Stage: drop each user's past items and the denied items from the retrieved candidates."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.rules import Rules
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage


def excluded_mask(
    ids: NDArray[Any], past: NDArray[Any], deny: frozenset[int] | NDArray[np.int64]
) -> NDArray[np.bool_]:
    """True where ids[row, j] is one of the row's past items or on the deny-list (a set, or an
    array as `Rules.deny_array`)."""
    mask = (ids[:, :, None] == past[:, None, :]).any(axis=2)
    if len(deny):
        denied = deny if isinstance(deny, np.ndarray) else np.fromiter(deny, dtype=np.int64)
        mask |= np.isin(ids, denied)
    return np.asarray(mask, dtype=bool)


class FilterCandidates(Stage):
    """`retrieved` minus `past` and denied items -> the best `candidate_count` (K) in
    `candidates` (padded with -1 only when the catalogue has fewer left). `rules`: the
    export's Rules, or the LiveRules the executor swaps in (services/ensemble/live_rules.py)."""

    def __init__(
        self, candidate_count: int, rules: Rules, retrieved: str, past: str, candidates: str
    ) -> None:
        super().__init__(reads=(retrieved, past), writes={candidates: (np.int32, PER_USER_LIST)})
        self.candidate_count, self.rules, self.candidates = candidate_count, rules, candidates

    runtime_attributes = ("_followers",)
    _followers: dict[int, tuple[int, ...]] = {}  # noqa: RUF012  # replaced, never mutated
    """Build item -> the items added at run time whose proxy it is (online_items.py)."""

    def run(self, columns: Columns) -> Columns:
        retrieved, past = (columns[name] for name in self.reads)
        if self._followers:
            retrieved = with_followers(retrieved, self._followers)
        excluded = excluded_mask(retrieved, past, self.rules.deny_array)
        candidates = np.full((len(retrieved), self.candidate_count), -1, dtype=np.int32)
        for row in range(len(retrieved)):
            kept = retrieved[row][~excluded[row]][: self.candidate_count]
            candidates[row, : len(kept)] = kept
        return {self.candidates: candidates}

    def items_changed(self, ids: Any, features: Any, vectors: Any, proxies: Any) -> None:
        """Items added or changed at run time: each joins the candidates right after its proxy
        (a build item that is its own proxy: nothing to add)."""
        changed = set(ids.tolist())
        followers = {
            proxy: tuple(item for item in items if item not in changed)
            for proxy, items in self._followers.items()
        }
        for item, proxy in zip(ids.tolist(), proxies.tolist(), strict=True):
            if proxy >= 0 and proxy != item:
                followers[proxy] = (*followers.get(proxy, ()), item)
        self._followers = {proxy: items for proxy, items in followers.items() if items}


def first_of_each(items: list[int]) -> list[int]:
    """`items` without repeats (the first place of each id kept; -1 padding kept)."""
    seen: set[int] = set()
    kept = []
    for item in items:
        if item < 0 or item not in seen:
            kept.append(item)
            seen.add(item)
    return kept


def with_followers(
    retrieved: NDArray[np.int32], followers: dict[int, tuple[int, ...]]
) -> NDArray[np.int32]:
    """Each row with every proxy's followers inserted right after it (once, at its first
    place), -1 padded to the longest row."""
    proxies = np.fromiter(followers, dtype=np.int64, count=len(followers))
    hits = np.isin(retrieved, proxies)
    if not hits.any():
        return retrieved
    rows: list[list[int]] = []
    for row, hit in zip(retrieved.tolist(), hits, strict=True):
        if not hit.any():
            rows.append(row)
            continue
        out: list[int] = []
        for item in row:
            out.append(item)
            out.extend(followers.get(item, ()))
        rows.append(first_of_each(out))
    width = max(len(row) for row in rows)
    padded = np.full((len(rows), width), -1, dtype=np.int32)
    for position, row in enumerate(rows):
        padded[position, : len(row)] = row
    return padded
