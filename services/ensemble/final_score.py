"""The final score that orders each user's candidates: a weighted sum of the stages' scores.

Pure numpy, no other imports: the Triton model copies this file, and the build's choice
(training/build/order_choice.py) and evaluation (training/evaluation/evaluate_top10.py) call the
same functions, so what the build measured is what serving orders by.

Each candidate has five parts (`PARTS`):

* `ranking`: the DLRM's click probability given the item is shown, as a logit;
* `retrieval`: the Two-Tower's inner product of the user's query and the item's vector;
* `itemitem`: the build's item-item model (EASE) summed over the user's history;
* `popularity`: log(1 + the item's train clicks);
* `segment`: 1 / (1 + the item's rank) in the popular items of the user's segment (0 beyond
  its first SEGMENT_RANKS).

Each part is standardized over the user's own candidates (mean 0, deviation 1; a part that
does not vary is 0), so the weights mean the same on any data set, whatever each model's scale.
The final score is the weights' sum of the standardized parts; candidates without features (or
-1 padding) get -inf. The build chooses the weights on clicks held out of train
(`ScoreWeights`, recorded in the manifest); `ScoreWeights()` orders by the DLRM alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

PARTS = ("ranking", "retrieval", "itemitem", "popularity", "segment")
SEGMENT_RANKS = 300
Scores = npt.NDArray[np.float32]
LOGIT_CLIP = 1e-6
"""Probabilities are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] before the logit."""


@dataclass(frozen=True)
class ScoreWeights:
    """The weight of each standardized part in the final score (0: not used)."""

    ranking: float = 1.0
    retrieval: float = 0.0
    itemitem: float = 0.0
    popularity: float = 0.0
    segment: float = 0.0

    def __post_init__(self) -> None:
        values = self.as_dict()
        if any(not np.isfinite(v) or v < 0 for v in values.values()) or not any(values.values()):
            raise ValueError(f"score weights must be finite, >= 0 and not all 0, got {values}")

    def as_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, float]) -> ScoreWeights:
        """From the manifest's mapping: a part it does not name weighs 0."""
        unknown = sorted(set(values) - set(PARTS))
        if unknown:
            raise ValueError(f"unknown score parts {unknown}: the parts are {list(PARTS)}")
        return cls(**{name: float(values.get(name, 0.0)) for name in PARTS})

    def used(self) -> tuple[str, ...]:
        """The parts with a weight, in `PARTS` order."""
        return tuple(name for name in PARTS if getattr(self, name))


def final_scores(
    parts: Mapping[str, npt.ArrayLike], weights: ScoreWeights, valid: npt.ArrayLike
) -> Scores:
    """float32 [n, K]: the weighted sum of the standardized `parts` (each [n, K]; only the
    used ones are read), -inf where not `valid` ([n, K] bool)."""
    mask = np.asarray(valid, dtype=bool)
    used = weights.used()
    stacked = np.stack([np.asarray(parts[name], dtype=np.float64) for name in used])
    factors = np.array([getattr(weights, name) for name in used])[:, None, None]
    total = (factors * _standardized(stacked, mask)).sum(axis=0)
    return np.where(mask, total, -np.inf).astype(np.float32)


def standardized(values: npt.ArrayLike, valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """[n, K]: each row's `values` minus their mean over the row's valid entries, divided by
    their deviation there (rows whose values do not vary: 0); invalid entries are 0."""
    scaled: npt.NDArray[np.float64] = _standardized(
        np.asarray(values, dtype=np.float64)[None], valid
    )[0]
    return scaled


def _standardized(
    values: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """`standardized` of every [n, K] slice of `values` [P, n, K] at once."""
    x = np.where(valid, values, 0.0)
    count = np.maximum(valid.sum(axis=-1, keepdims=True), 1)
    centred = np.where(valid, x - x.sum(axis=-1, keepdims=True) / count, 0.0)
    deviation = np.sqrt((centred * centred).sum(axis=-1, keepdims=True) / count)
    varies = deviation > 1e-12
    scaled: npt.NDArray[np.float64] = centred / np.where(varies, deviation, 1.0) * varies
    return scaled


def logit(probabilities: npt.ArrayLike) -> Scores:
    p = np.clip(np.asarray(probabilities, dtype=np.float64), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(p / (1.0 - p)).astype(np.float32)


def inner_products(
    queries: npt.ArrayLike, vectors: npt.ArrayLike, rows: npt.NDArray[np.int64]
) -> Scores:
    """float32 [n, K]: query i's inner product with `vectors[rows[i, j]]` (0 where rows < 0)."""
    q = np.asarray(queries, dtype=np.float32)
    v = np.asarray(vectors, dtype=np.float32)
    picked = v[np.maximum(rows, 0)]  # [n, K, d]
    products = np.einsum("nd,nkd->nk", q, picked).astype(np.float32)
    return np.where(rows >= 0, products, 0.0).astype(np.float32)


@dataclass(frozen=True)
class ItemLookup:
    """Catalogue item id -> a row (of a vector table, a value array): sorted ids, their rows."""

    ids: npt.NDArray[np.int64]
    rows: npt.NDArray[np.int64]

    @classmethod
    def of(cls, item_ids: npt.ArrayLike) -> ItemLookup:
        ids = np.asarray(item_ids, dtype=np.int64).reshape(-1)  # as `find` searches: no copy
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], order.astype(np.int64))

    def find(self, candidates: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The row of each candidate id, -1 where unknown (and for -1 padding)."""
        wanted = np.asarray(candidates, dtype=np.int64)
        if len(self.ids) == 0:
            return np.full(wanted.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        return np.where(self.ids[at] == wanted, self.rows[at], -1)


EXCLUDES = ("clicks", "shown")
"""What the filter removes from a user's answers: the items they clicked, or every item shown
to them in the build's data (clicked or not) and every item they clicked since."""


@dataclass(frozen=True)
class OrderSettings:
    """How a build filters and orders (its manifest's `ordering`; builds before it: the
    defaults, the DLRM's order after removing clicked items)."""

    exclude: str = "clicks"
    itemitem_input: str = "clicks"
    """The history the item-item model reads: the user's clicks, or every item shown to them."""
    weights: ScoreWeights = field(default_factory=ScoreWeights)

    def __post_init__(self) -> None:
        for name, value in (("exclude", self.exclude), ("itemitem_input", self.itemitem_input)):
            if value not in EXCLUDES:
                raise ValueError(f"ordering.{name} is one of {EXCLUDES}, got {value!r}")

    @property
    def reads_shown(self) -> bool:
        """Whether serving needs each user's shown items (the build writes them then)."""
        return "shown" in (self.exclude, self.itemitem_input)

    def as_dict(self) -> dict[str, object]:
        return {
            "exclude": self.exclude,
            "itemitem_input": self.itemitem_input,
            "weights": self.weights.as_dict(),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, object] | None) -> OrderSettings:
        if not values:
            return cls()
        weights = values.get("weights")
        if weights is not None and not isinstance(weights, Mapping):
            raise ValueError(f"ordering.weights must be a mapping, got {weights!r}")
        return cls(
            exclude=str(values.get("exclude", "clicks")),
            itemitem_input=str(values.get("itemitem_input", "clicks")),
            weights=ScoreWeights.from_dict(weights) if weights else ScoreWeights(),
        )


@dataclass(frozen=True)
class DenseItemItem:
    """EASE's weights among the items it covers (ids -> rows of `b`, b [m, m]): the item-item
    part reads them whole, exact and in one gather a batch; the pruned NeighbourTable serves
    the candidate list."""

    lookup: ItemLookup
    b: npt.NDArray[np.float32]

    @classmethod
    def of(cls, item_ids: npt.ArrayLike, b: npt.ArrayLike) -> DenseItemItem:
        return cls(ItemLookup.of(item_ids), np.asarray(b, dtype=np.float32))

    def scores(self, history: Sequence[npt.ArrayLike], candidates: npt.ArrayLike) -> Scores:
        """float32 [n, K]: each candidate's weights summed over the row's `history` items (0
        for items the model does not cover), GATHER_CELLS gathered at a time."""
        ids = np.asarray(candidates)
        past = self._padded_rows(history)
        out = np.zeros(ids.shape, dtype=np.float32)
        step = max(1, GATHER_CELLS // (past.shape[1] * max(ids.shape[1], 1)))
        for start in range(0, len(past), step):
            rows = past[start : start + step]
            columns = self.lookup.find(ids[start : start + step])
            gathered = self.b[np.maximum(rows, 0)[:, :, None], np.maximum(columns, 0)[:, None, :]]
            held = (rows >= 0)[:, :, None] & (columns >= 0)[:, None, :]
            out[start : start + step] = np.where(held, gathered, 0.0).sum(axis=1)
        return out

    def _padded_rows(self, history: Sequence[npt.ArrayLike]) -> npt.NDArray[np.int64]:
        """[n, W]: each row's history items as rows of `b` (those covered), -1 padded."""
        items = [np.asarray(h, dtype=np.int64).reshape(-1) for h in history]
        found = self.lookup.find(np.concatenate(items)) if items else np.zeros(0, np.int64)
        owner = np.repeat(np.arange(len(items)), [len(h) for h in items])
        owner, found = owner[found >= 0], found[found >= 0]
        counts = np.bincount(owner, minlength=len(items))
        out = np.full((len(items), max(1, int(counts.max(initial=0)))), -1, dtype=np.int64)
        position = np.arange(len(found)) - np.repeat(np.cumsum(counts) - counts, counts)
        out[owner, position] = found
        return out


GATHER_CELLS = 1 << 22
"""`DenseItemItem.scores` gathers at most this many weights at once (16 MB)."""


def reciprocal_ranks(ranks: npt.NDArray[np.int64], depth: int = SEGMENT_RANKS) -> Scores:
    """1 / (1 + rank) where 0 <= rank < depth, else 0 (`SegmentLists.ranks_of`'s -1: absent)."""
    held = (ranks >= 0) & (ranks < depth)
    return np.where(held, 1.0 / (1.0 + np.maximum(ranks, 0)), 0.0).astype(np.float32)
