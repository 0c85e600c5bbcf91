"""Feast 0.31's Redis layout, from Feast's own (private) helpers: the only place that uses them.

Key of an entity: the serialized entity key + the project name; field of a feature: murmur3_32
of "<view>:<feature>" (4 bytes, little-endian); value: a serialized ValueProto.
tests/unit/ensemble/test_feast_layout.py pins both against the SDK, so a Feast upgrade that
changes them fails a test instead of reading empty features.
"""

from __future__ import annotations

from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value


def feature_field(view: str, feature: str) -> bytes:
    """The hash field holding `feature` of `view`."""
    field: bytes = _mmh3(f"{view}:{feature}")
    return field


def entity_key(project: str, join_key: str, entity: int, serialization_version: int) -> bytes:
    """The Redis key of the hash holding an int32 entity's features."""
    proto = EntityKey(join_keys=[join_key], entity_values=[Value(int32_val=entity)])
    key: bytes = _redis_key(project, proto, serialization_version)
    return key


def int32_value(raw: bytes | None) -> int:
    """A stored feature value (serialized ValueProto); 0 when absent."""
    return int(Value.FromString(raw).int32_val) if raw else 0
