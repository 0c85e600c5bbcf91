"""Feast definitions: user and item features, keyed by catalogue (raw) ids.

Values are the NVTabular-encoded ids the models take, so serving needs no per-request
re-encoding; `user_id_encoded` / `item_id_encoded` are the ids' own encodings. Source paths
are relative to this folder (the build materializes from inside it), so a build directory
can be moved or mounted anywhere. The feature lists are the contract's
(services/ensemble/contract.py), so the project must be importable where these definitions
are loaded: it is wherever the build runs (`python -m training` from the project root, the
images' /opt/recsys).
"""

from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Int32

from services.ensemble.contract import ITEM_FEATURES, USER_FEATURES


def _view(name: str, entity: Entity, features: tuple[str, ...]) -> FeatureView:
    """View `name` of `entity`: its encoded id and `features`, from data/<name>.parquet."""
    columns = (f"{entity.join_key}_encoded", *features)
    return FeatureView(
        name=name,
        entities=[entity],
        ttl=timedelta(0),
        schema=[Field(name=column, dtype=Int32) for column in columns],
        online=True,
        source=FileSource(
            path=f"data/{name}.parquet",
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
    )


user = Entity(name="user_id", join_keys=["user_id"], value_type=ValueType.INT32)
item = Entity(name="item_id", join_keys=["item_id"], value_type=ValueType.INT32)
user_features = _view("user_features", user, USER_FEATURES)
item_features = _view("item_features", item, ITEM_FEATURES)

DEFINITIONS = [user, item, user_features, item_features]
