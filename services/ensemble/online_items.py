"""The items added, changed or retired at run time, applied to this process' served catalogue.

The gateway's PUT / DELETE /items/{item_id} write an item's raw attributes to
contract.ONLINE_ITEMS_KEY and its id to the change log contract.ONLINE_ITEM_CHANGES_KEY, in one
transaction. Every pass reads the log's length (one LLEN in FetchPastItems' round trip, as the
live rules' counter); when it grew, the entries past the last one applied name the items to
read (one LRANGE, one HMGET), and the process:

- encodes their attributes with its build's vocabulary (a new id or value: the
  out-of-vocabulary code, as the build's workflow gives it) and embeds them with its build's
  item tower;
- finds each new one's proxy: the build item whose attributes the item tower sees as most
  alike (the cosine of both items' vectors with the id left out, i.e. embedded with the
  out-of-vocabulary id: an item with a build item's very attributes gets that item);
- hands the ids, encoded features, vectors and proxies to every listener: the faiss index (the
  item is searchable under its id; a build item's vector is replaced), the in-memory item
  features, the filter (a new item joins the candidates right after its proxy, from whichever
  source the proxy came) and the final score (its own tower vector; its proxy's popularity,
  segment and item-item parts, which a new item has no data for);
- denies retired items everywhere through the live rules (every candidate source, the filter
  and the popular fallback), until a PUT returns them.

Nothing is encoded or embedded on the request path of a pass without changes. A log shorter
than what was applied (deleted by hand) is read again from its start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from services.ensemble.contract import (
    ITEM_FEATURES,
    ONLINE_ITEM_CHANGES_KEY,
    ONLINE_ITEMS_KEY,
)
from services.ensemble.live_rules import LiveRules, log_line
from services.ensemble.redis_store import unavailable_on_redis_errors
from services.ensemble.vocabulary import Vocabulary

ITEM_COLUMNS = ("item_id", *ITEM_FEATURES)
"""The encoded columns of an item, in the order the listeners get them (the item id's code
first, as the catalogue's `item_id_encoded`)."""
Embed = Callable[[NDArray[np.int32]], NDArray[np.float32]]
"""Encoded item rows [n, ITEM_COLUMNS] -> their item-tower vectors [n, d]."""


class Follower(Protocol):
    """State refreshed once per pass from one Redis reply (LiveRules, OnlineItems)."""

    def read_version(self, pipe: Any) -> None: ...

    def follow(self, reply: Any) -> None: ...


class ItemsListener(Protocol):
    def items_changed(
        self,
        ids: NDArray[np.int64],
        features: NDArray[np.int32],
        vectors: NDArray[np.float32],
        proxies: NDArray[np.int64],
    ) -> None: ...


Catalogue = tuple[NDArray[np.int64], NDArray[np.int32]]
"""The build's items: their ids [n] and encoded rows [n, ITEM_COLUMNS]."""


class OnlineItems:
    def __init__(
        self,
        client: Any,
        vocabulary: Vocabulary | None,
        embed: Embed | None,
        rules: LiveRules | None,
        log: Callable[[str], None] = log_line,
        catalogue: Catalogue | None = None,
    ) -> None:
        """Without `vocabulary` and `embed` (the standby: no TensorFlow) only retirements apply;
        without `catalogue`, items have no proxies."""
        self._client = client
        self.vocabulary, self.embed, self.rules = vocabulary, embed, rules
        self.listeners: list[ItemsListener] = []
        self.catalogue = catalogue
        self._alike: NDArray[np.float32] | None = None
        """The catalogue's vectors without their ids, unit length: made on the first new item."""
        self.applied = 0
        """Change-log entries applied."""
        self.retired: set[int] = set()
        self.added: set[int] = set()
        """Items this process serves from the online catalogue (attributes, not retired)."""
        self._log = log

    @staticmethod
    def read_version(pipe: Any) -> None:
        """Queue the change log's LLEN on a stage's pipeline: hand its reply to `follow`."""
        pipe.llen(ONLINE_ITEM_CHANGES_KEY)

    def refresh(self) -> None:
        """`follow` the change log's current length (a round trip of its own)."""
        with unavailable_on_redis_errors():
            length = self._client.llen(ONLINE_ITEM_CHANGES_KEY)
        self.follow(length)

    def follow(self, length: Any) -> None:
        """Apply the log's entries past `applied` (its length now: LLEN's reply; an error
        reply changes nothing). OnlineStoreUnavailable if Redis cannot answer."""
        if not isinstance(length, int) or length == self.applied:
            return
        start = self.applied if length > self.applied else 0
        with unavailable_on_redis_errors():
            changed = self._client.lrange(ONLINE_ITEM_CHANGES_KEY, start, length - 1)
            ids = sorted({int(item) for item in changed})
            records = self._client.hmget(ONLINE_ITEMS_KEY, ids) if ids else []
        self.apply(dict(zip(ids, (parse_record(r) for r in records), strict=True)))
        self.applied = length

    def apply(self, records: Mapping[int, dict[str, Any] | None]) -> None:
        """Serve `records` (item id -> its record, None if the hash holds none)."""
        live = {
            item: attributes
            for item, record in records.items()
            if record is not None and not record.get("retired")
            if (attributes := record_attributes(record, ITEM_FEATURES)) is not None
        }
        retired = {item for item, record in records.items() if record and record.get("retired")}
        self.retired = (self.retired - set(records)) | retired
        if self.rules is not None:
            self.rules.set_retired(frozenset(self.retired))
        if live and self.vocabulary is not None and self.embed is not None:
            ids = np.array(sorted(live), dtype=np.int64)
            rows = [{"item_id": int(item), **live[int(item)]} for item in ids]
            features = self.vocabulary.encode_rows(ITEM_COLUMNS, rows)
            vectors = self.embed(features)
            proxies = self.proxies(ids, features)
            for listener in self.listeners:
                listener.items_changed(ids, features, vectors, proxies)
            self.added |= set(live)
        self._log(
            f"online catalogue: {len(live)} items added or changed, {len(retired)} retired "
            f"({len(self.added)} added, {len(self.retired)} retired in all)"
        )

    def proxies(self, ids: NDArray[np.int64], features: NDArray[np.int32]) -> NDArray[np.int64]:
        """Each item's proxy (-1: none); an item the build's vocabulary knows is its own."""
        proxies = np.full(len(ids), -1, dtype=np.int64)
        if self.vocabulary is None or self.catalogue is None or not len(self.catalogue[0]):
            return proxies
        known = self.vocabulary.encode("item_id", ids) != self.vocabulary.oov("item_id")
        proxies[known] = ids[known]
        if (~known).any():
            alike = self.alike(features[~known]) @ self.catalogue_alike().T
            proxies[~known] = self.catalogue[0][alike.argmax(axis=1)]
        return proxies

    def alike(self, features: NDArray[np.int32]) -> NDArray[np.float32]:
        """Unit vectors of items' attributes alone: embedded with the out-of-vocabulary id."""
        assert self.vocabulary is not None and self.embed is not None
        rows = features.copy()
        rows[:, 0] = self.vocabulary.oov("item_id")
        vectors = self.embed(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: NDArray[np.float32] = (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return unit

    def catalogue_alike(self) -> NDArray[np.float32]:
        if self._alike is None:
            assert self.catalogue is not None
            self._alike = self.alike(self.catalogue[1])
        return self._alike


def parse_record(raw: bytes | str | None) -> dict[str, Any] | None:
    """A stored record (a JSON object), None for none or anything else: a bad record is
    skipped, never raised."""
    try:
        record = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def record_attributes(
    record: dict[str, Any] | None, columns: tuple[str, ...]
) -> dict[str, int] | None:
    """A record's `attributes` when they hold an int for every column; else None."""
    attributes = record.get("attributes") if record is not None else None
    if not isinstance(attributes, dict):
        return None
    if not all(type(attributes.get(name)) is int for name in columns):
        return None
    return {name: attributes[name] for name in columns}


class ItemOverlay:
    """Rows of values by item id that replace or add to the build's (features, vectors): the
    latest write of an id wins."""

    def __init__(self, width: int, dtype: Any) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.values = np.zeros((0, width), dtype=dtype)

    def update(self, ids: NDArray[np.int64], values: NDArray[Any]) -> None:
        kept = ~np.isin(self.ids, ids)
        merged_ids = np.concatenate([self.ids[kept], ids.astype(np.int64)])
        merged = np.concatenate([self.values[kept], values.astype(self.values.dtype)])
        order = np.argsort(merged_ids, kind="stable")
        self.ids, self.values = merged_ids[order], merged[order]

    def rows(self, ids: NDArray[Any]) -> NDArray[np.int64]:
        """The row of each id in `values`, -1 where the overlay has none."""
        wanted = np.asarray(ids, dtype=np.int64)
        if len(self.ids) == 0:
            return np.full(wanted.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, wanted), len(self.ids) - 1)
        return np.where(self.ids[at] == wanted, at, -1)


def attach(stages: list[Any], client: Any, rules: LiveRules | None) -> OnlineItems:
    """One OnlineItems for the process' stages: the vocabulary and item tower of the stage
    that loaded them (none in the standby: retirements only), every stage with an
    `items_changed` as a listener."""
    loaded = next((s.state for s in stages if getattr(s, "follows_online_items", False)), None)
    vocabulary, embed, catalogue = loaded if loaded is not None else (None, None, None)
    online = OnlineItems(client, vocabulary, embed, rules, catalogue=catalogue)
    online.listeners = [stage for stage in stages if hasattr(stage, "items_changed")]
    for stage in stages:
        if getattr(stage, "follows_online_items", False):
            stage.online = online
    return online
