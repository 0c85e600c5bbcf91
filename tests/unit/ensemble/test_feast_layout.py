"""Our Feast-free Redis layout agrees with the SDK's own pieces."""

from __future__ import annotations

import struct

import mmh3
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value

from services.ensemble import feast_layout


def test_feature_field_is_little_endian_murmur3_of_view_and_feature() -> None:
    expected = struct.pack("<I", mmh3.hash("user_features:user_age", signed=False))
    assert feast_layout.feature_field("user_features", "user_age") == expected


def test_entity_key_is_the_serialized_entity_key_then_the_project() -> None:
    proto = EntityKey(join_keys=["user_id"], entity_values=[Value(int32_val=1234567)])
    expected = serialize_entity_key(proto, entity_key_serialization_version=2) + b"proj"
    assert feast_layout.entity_key("proj", "user_id", 1234567, 2) == expected


def test_values_decode_and_absent_values_are_zero() -> None:
    for number in (-42, 0, 1, 127, 128, 300, 2**31 - 1, -(2**31), 5_400_919):
        assert feast_layout.int32_value(Value(int32_val=number).SerializeToString()) == number
    assert feast_layout.int32_value(None) == 0
    assert feast_layout.int32_value(b"") == 0
    assert feast_layout.int32_value(Value().SerializeToString()) == 0
    assert feast_layout.int32_value(Value(string_val="x").SerializeToString()) == 0


def test_entity_keys_agree_for_both_serialization_versions_and_any_int32() -> None:
    for version in (1, 2):
        for entity in (0, -1, 2**31 - 1, -(2**31)):
            proto = EntityKey(join_keys=["item_id"], entity_values=[Value(int32_val=entity)])
            expected = serialize_entity_key(proto, entity_key_serialization_version=version)
            assert feast_layout.entity_key("p", "item_id", entity, version) == expected + b"p"
