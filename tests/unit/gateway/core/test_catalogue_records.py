"""The online catalogue's records: the JSON the model processes read, and what PUT and DELETE
make of the record before."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from services.ensemble.contract import ITEM_RECORD_FIELDS, USER_RECORD_FIELDS
from services.gateway.core.catalogue_records import (
    ItemState,
    UserState,
    added,
    decode_item,
    decode_user,
    encode,
    now,
    retired,
)

SHOE = {"item_shop": 40, "item_category": 3, "item_brand": 500}


def test_records_are_compact_json_with_sorted_keys_and_the_contracts_fields() -> None:
    text = encode(ItemState(SHOE, False, "2026-05-01T12:00:00.000+00:00"))
    assert text == (
        '{"attributes":{"item_brand":500,"item_category":3,"item_shop":40},'
        '"retired":false,"updated_at":"2026-05-01T12:00:00.000+00:00"}'
    )
    assert tuple(sorted(json.loads(text))) == tuple(sorted(ITEM_RECORD_FIELDS))
    user = UserState({"user_age": 3}, "2026-05-01T12:00:00.000+00:00")
    assert tuple(sorted(json.loads(encode(user)))) == tuple(sorted(USER_RECORD_FIELDS))


def test_records_read_back() -> None:
    item = ItemState(None, True, now())
    assert decode_item(encode(item).encode()) == item
    user = UserState({"user_age": 3}, now())
    assert decode_user(encode(user)) == user


@pytest.mark.parametrize(
    "raw",
    ["[]", '{"attributes": null}', '{"attributes":null,"retired":true,"updated_at":"x","y":1}'],
)
def test_a_record_without_the_contracts_fields_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="not a record"):
        decode_item(raw)


def test_now_is_iso_8601_in_utc() -> None:
    stamp = datetime.fromisoformat(now())
    assert stamp.tzinfo == timezone.utc
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 5


def test_a_put_takes_the_item_back_and_a_delete_keeps_what_it_had() -> None:
    attributes = dict(SHOE)
    record = added(attributes)
    attributes["item_shop"] = 0
    assert record.attributes == SHOE and record.retired is False  # a copy
    gone = retired(record)
    assert gone.attributes == SHOE and gone.retired is True
    assert gone.updated_at >= record.updated_at
    assert retired(None) == ItemState(None, True, retired(None).updated_at)
