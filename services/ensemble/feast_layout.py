"""Feast 0.31's Redis layout, written out: the model processes read it without importing Feast
(about 110 MB and a second of start-up each).

Key of an entity: Feast's `serialize_entity_key` (the join key as a STRING, then the value as an
INT32, each with its type and, for the value, its length, all little-endian), then the project
name; field of a feature: murmur3_32 of "<view>:<feature>" (4 bytes, little-endian); value: a
serialized ValueProto, of which the features here set `int32_val` (field 3, a varint).
tests/unit/ensemble/test_feast_layout.py pins all three against the SDK, so a Feast upgrade that
changes them fails a test instead of reading empty features.
"""

from __future__ import annotations

import struct

import mmh3

STRING_TYPE = 2
"""feast.types.ValueType.STRING"""
INT32_TYPE = 3
"""feast.types.ValueType.INT32"""
INT32_FIELD = 3
"""ValueProto's int32_val field number."""


def feature_field(view: str, feature: str) -> bytes:
    """The hash field holding `feature` of `view`."""
    return struct.pack("<I", mmh3.hash(f"{view}:{feature}", signed=False))


def entity_key(project: str, join_key: str, entity: int, serialization_version: int) -> bytes:
    """The Redis key of the hash holding an int32 entity's features (versions 1 and 2 write an
    int32 alike: they differ in int64 values only)."""
    value = struct.pack("<i", entity)
    return b"".join(
        (
            struct.pack("<I", STRING_TYPE),
            join_key.encode("utf8"),
            struct.pack("<II", INT32_TYPE, len(value)),
            value,
            project.encode("utf8"),
        )
    )


def int32_value(raw: bytes | None) -> int:
    """A stored feature value (serialized ValueProto): its int32_val, 0 when absent."""
    position, size = 0, len(raw or b"")
    while raw and position < size:
        tag, position = _varint(raw, position)
        field, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(raw, position)
            if field == INT32_FIELD:
                value &= 0xFFFFFFFF
                return value - (1 << 32) if value >= 1 << 31 else value
        elif wire_type == 2:
            length, position = _varint(raw, position)
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"not a serialized Feast value (wire type {wire_type})")
    return 0


def _varint(raw: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = raw[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
