"""The raw Ali-CCP schema ("aliccp-raw") every data source must deliver, and the feature groups."""

from __future__ import annotations

from services.ensemble.contract import ITEM_FEATURES, USER_FEATURES

__all__ = ["ITEM_FEATURES", "RAW_COLUMNS", "REQUIRED_COLUMNS", "TARGET", "USER_FEATURES"]


TARGET = "click"

RAW_COLUMNS: dict[str, str] = {
    "user_id": "int32",
    "user_shops": "int32",
    "user_profile": "int32",
    "user_group": "int32",
    "user_gender": "int32",
    "user_age": "int32",
    "user_consumption_1": "int32",
    "user_consumption_2": "int32",
    "user_is_occupied": "int32",
    "user_geography": "int32",
    "user_intentions": "int32",
    "user_brands": "int32",
    "user_categories": "int32",
    "item_id": "int32",
    "item_category": "int32",
    "item_shop": "int32",
    "item_brand": "int32",
    "item_intention": "int32",
    "user_item_categories": "int32",
    "user_item_shops": "int32",
    "user_item_brands": "int32",
    "user_item_intentions": "int32",
    "position": "int32",
    "click": "int64",
    "conversion": "int64",
}
"""Column -> dtype, in the order `generate_data("aliccp-raw", n)` produces them."""

REQUIRED_COLUMNS: tuple[str, ...] = ("user_id", "item_id", *USER_FEATURES, *ITEM_FEATURES, TARGET)
"""The columns the pipeline reads; the others of RAW_COLUMNS are carried but unused."""
