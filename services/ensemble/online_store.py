"""Reading the Feast online store: two readers behind one interface.

* `RedisFeatureReader` reads the Redis hashes Feast 0.31 writes (key: serialized entity key +
  project; field: murmur3 of "view:feature"; value: a serialized ValueProto) with one pipelined
  HMGET per request. Key and field encodings come from Feast's own helpers, so they match it
  by construction.
* `FeastFeatureReader` calls `FeatureStore.get_online_features`, the stock path of merlin-systems'
  QueryFeast: about 3.4 ms of fixed cost per call in Feast 0.31. Kept to compare against.

Both return the features as an int32 matrix in the view's feature order plus a found mask; a
missing entity gets zeros and found=False.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import redis
from feast import FeatureStore
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from numpy.typing import NDArray

from services.ensemble.settings import CONNECTION_ENV, EnsembleSettings, feast_redis_connection


@dataclass(frozen=True)
class ViewSpec:
    name: str
    join_key: str
    features: tuple[str, ...]


class FeatureReader(Protocol):
    def read(self, view: ViewSpec, ids: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        """(values int32 [len(ids), len(view.features)], found bool [len(ids)])."""
        ...


def open_feature_store(repo_dir: Path, redis_url: str) -> FeatureStore:
    """A FeatureStore on `repo_dir` whose Redis connection comes from `redis_url`."""
    os.environ[CONNECTION_ENV] = feast_redis_connection(redis_url)
    os.environ.setdefault("FEAST_USAGE", "False")
    return cast(FeatureStore, FeatureStore(repo_path=str(repo_dir)))


def view_spec(store: FeatureStore, name: str) -> ViewSpec:
    view = store.get_feature_view(name)
    return ViewSpec(name, view.entities[0], tuple(f.name for f in view.features))


class RedisFeatureReader:
    def __init__(self, client: redis.Redis, project: str, key_serialization: int) -> None:
        self._client = client
        self._project = project
        self._version = key_serialization
        self._fields: dict[str, list[bytes]] = {}

    @classmethod
    def from_store(cls, store: FeatureStore, redis_url: str) -> RedisFeatureReader:
        client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, store.project, store.config.entity_key_serialization_version)

    def read(self, view: ViewSpec, ids: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        fields = self._fields.get(view.name)
        if fields is None:
            fields = [_mmh3(f"{view.name}:{feature}") for feature in view.features]
            self._fields[view.name] = fields
        with self._client.pipeline(transaction=False) as pipe:
            for entity in np.asarray(ids).reshape(-1).tolist():
                pipe.hmget(self._key(view.join_key, entity), fields)
            rows = pipe.execute()
        values = np.zeros((len(rows), len(fields)), dtype=np.int32)
        found = np.zeros(len(rows), dtype=bool)
        for row, raw_values in enumerate(rows):
            if raw_values[0] is None:
                continue
            found[row] = True
            values[row] = [Value.FromString(raw).int32_val if raw else 0 for raw in raw_values]
        return values, found

    def _key(self, join_key: str, entity: int) -> bytes:
        entity_key = EntityKey(join_keys=[join_key], entity_values=[Value(int32_val=entity)])
        return _redis_key(self._project, entity_key, self._version)


class FeastFeatureReader:
    def __init__(self, store: FeatureStore) -> None:
        self._store = store

    def read(self, view: ViewSpec, ids: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        names = [f"{view.name}:{feature}" for feature in view.features]
        entities = [{view.join_key: int(entity)} for entity in np.asarray(ids).reshape(-1)]
        columns = self._store.get_online_features(names, entities).to_dict()
        first = columns[view.features[0]]
        found = np.array([value is not None for value in first], dtype=bool)
        values = np.zeros((len(entities), len(view.features)), dtype=np.int32)
        for col, feature in enumerate(view.features):
            values[:, col] = [0 if v is None else v for v in columns[feature]]
        return values, found


def open_reader(
    repo_dir: Path, view_name: str, settings: EnsembleSettings
) -> tuple[FeatureReader, ViewSpec]:
    """The reader `settings.feature_reader` names, and the view's spec from Feast's registry."""
    store = open_feature_store(repo_dir, settings.redis_url)
    view = view_spec(store, view_name)
    if settings.feature_reader == "feast":
        return FeastFeatureReader(store), view
    return RedisFeatureReader.from_store(store, settings.redis_url), view
