"""Each user's interacted (clicked) items, written to Redis as one SET per user.

The serving graph excludes them from recommendations; the gateway's POST /interactions adds to
the same sets online. Like the feature store, the build owns these keys: it deletes them all
before writing, so a rebuild leaves exactly the data's interactions.
"""

from __future__ import annotations

import pandas as pd
import redis

from services.ensemble.contract import INTERACTIONS_PREFIX, interactions_key
from training.schema import TARGET

BATCH_USERS = 2_000


def clicks(frame: pd.DataFrame) -> pd.DataFrame:
    """The distinct (user_id, item_id) pairs with a click, catalogue ids, sorted."""
    pairs = frame.loc[frame[TARGET] == 1, ["user_id", "item_id"]].drop_duplicates()
    return pairs.sort_values(["user_id", "item_id"]).reset_index(drop=True)


def clicked_items(pairs: pd.DataFrame) -> pd.Series:
    """user id -> sorted list of the catalogue item ids they clicked."""
    return pairs.groupby("user_id")["item_id"].apply(lambda items: sorted(items.tolist()))


def write(client: redis.Redis, clicked: pd.Series) -> dict[str, int]:
    deleted = clear(client)
    with client.pipeline(transaction=False) as pipe:
        for count, (user, items) in enumerate(clicked.items(), start=1):
            pipe.sadd(interactions_key(int(user)), *items)
            if count % BATCH_USERS == 0:
                pipe.execute()
        pipe.execute()
    return {
        "keys_deleted": deleted,
        "users": int(len(clicked)),
        "interactions": int(sum(len(items) for items in clicked)),
    }


def clear(client: redis.Redis) -> int:
    deleted = 0
    keys = list(client.scan_iter(match=f"{INTERACTIONS_PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        deleted += client.delete(*keys[start : start + 1000])
    return deleted
