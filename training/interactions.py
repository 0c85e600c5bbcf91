"""Each user's interacted (clicked) items, written to Redis as one SET per user.

The serving graph excludes them from recommendations, together with the items the gateway's
POST /interactions records online in separate sets (`online_interactions_key`) that no build
touches. The build owns its own sets and replaces them without a gap: each user's set is
replaced atomically (MULTI: DEL + SADD), then the sets of users not in the new build are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator

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
    """Replace each user's set in place, then delete the sets of users the build no longer has."""
    before = set(build_keys(client))
    written: set[bytes] = set()
    # transaction=True: each batch is one MULTI/EXEC, so a reader never sees a set deleted
    # and not yet refilled.
    with client.pipeline(transaction=True) as pipe:
        for count, (user, items) in enumerate(clicked.items(), start=1):
            key = interactions_key(int(user))
            pipe.delete(key)
            pipe.sadd(key, *items)
            written.add(key.encode())
            if count % BATCH_USERS == 0:
                pipe.execute()
        pipe.execute()
    deleted = delete(client, before - written)
    return {
        "keys_deleted": deleted,
        "users": int(len(clicked)),
        "interactions": int(sum(len(items) for items in clicked)),
    }


def build_keys(client: redis.Redis) -> Iterator[bytes]:
    """The build's interaction sets in Redis (not the online ones: another prefix)."""
    return client.scan_iter(match=f"{INTERACTIONS_PREFIX}*", count=1000)  # type: ignore[no-any-return]


def delete(client: redis.Redis, keys: set[bytes]) -> int:
    batch = sorted(keys)
    deleted = 0
    for start in range(0, len(batch), 1000):
        deleted += client.delete(*batch[start : start + 1000])
    return deleted
