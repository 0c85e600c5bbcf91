"""Feast definitions: user and item features, keyed by catalogue (raw) ids.

Values are the NVTabular-encoded ids the models take, so serving needs no per-request
re-encoding; `user_id_encoded` / `item_id_encoded` are the ids' own encodings. Source paths
are relative to this folder (the build materializes from inside it), so a build directory
can be moved or mounted anywhere.
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Int32

USER_FEATURES = (
    "user_shops",
    "user_profile",
    "user_group",
    "user_gender",
    "user_age",
    "user_consumption_2",
    "user_is_occupied",
    "user_geography",
    "user_intentions",
    "user_brands",
    "user_categories",
)
ITEM_FEATURES = ("item_category", "item_shop", "item_brand")

user = Entity(name="user_id", join_keys=["user_id"], value_type=ValueType.INT32)
item = Entity(name="item_id", join_keys=["item_id"], value_type=ValueType.INT32)

user_features = FeatureView(
    name="user_features",
    entities=[user],
    ttl=timedelta(0),
    schema=[Field(name=name, dtype=Int32) for name in ("user_id_encoded", *USER_FEATURES)],
    online=True,
    source=FileSource(
        path="data/user_features.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    ),
)

item_features = FeatureView(
    name="item_features",
    entities=[item],
    ttl=timedelta(0),
    schema=[Field(name=name, dtype=Int32) for name in ("item_id_encoded", *ITEM_FEATURES)],
    online=True,
    source=FileSource(
        path="data/item_features.parquet",
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    ),
)

DEFINITIONS = [user, item, user_features, item_features]
