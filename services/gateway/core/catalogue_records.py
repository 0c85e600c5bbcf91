"""The online catalogue's records as Redis holds them (services/ensemble/contract.py's
ITEM_RECORD_FIELDS and USER_RECORD_FIELDS): compact JSON with sorted keys, raw attributes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from typing import Any

from services.ensemble.contract import ITEM_RECORD_FIELDS, USER_RECORD_FIELDS


@dataclass(frozen=True)
class ItemState:
    """attributes: {ITEM_FEATURES -> int}, None for a build item retired without new ones."""

    attributes: dict[str, int] | None
    retired: bool
    updated_at: str


@dataclass(frozen=True)
class UserState:
    attributes: dict[str, int]
    updated_at: str


def now() -> str:
    """The current time, ISO 8601 in UTC (`2026-05-01T12:00:00.123+00:00`)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def encode(record: ItemState | UserState) -> str:
    return json.dumps(asdict(record), separators=(",", ":"), sort_keys=True)


def decode_item(raw: bytes | str) -> ItemState:
    fields = _fields(raw, ITEM_RECORD_FIELDS)
    return ItemState(fields["attributes"], bool(fields["retired"]), str(fields["updated_at"]))


def decode_user(raw: bytes | str) -> UserState:
    fields = _fields(raw, USER_RECORD_FIELDS)
    return UserState(fields["attributes"], str(fields["updated_at"]))


def added(attributes: dict[str, int]) -> ItemState:
    """A PUT's record: these attributes, not retired (a retired item is taken back)."""
    return ItemState(dict(attributes), retired=False, updated_at=now())


def retired(previous: ItemState | None) -> ItemState:
    """A DELETE's record: the previous attributes kept (None for an item only the build has)."""
    if previous is None:
        return ItemState(None, retired=True, updated_at=now())
    return replace(previous, retired=True, updated_at=now())


def _fields(raw: bytes | str, names: tuple[str, ...]) -> dict[str, Any]:
    record = json.loads(raw)
    if not isinstance(record, dict) or set(record) != set(names):
        raise ValueError(f"not a record with the fields {', '.join(names)}: {str(raw)[:100]}")
    return record
