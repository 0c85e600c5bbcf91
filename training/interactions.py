"""Each user's interacted (clicked) items, written to Redis as one SET per user.

The serving graph excludes them from recommendations, together with the items the gateway's
POST /interactions records online in separate sets (`online_interactions_key`) that no build
touches. Each build's sets live in its own namespace (`interactions_key(user, build_id)`), so
writing one build never changes what another served version reads. Materializing the same build
again replaces its sets without a gap: each user's set is written under a staging key in the
same hash-tag slot, then RENAMEd over the served one (atomic, and valid on a Redis Cluster,
where MULTI cannot span users); then the build's sets of users it no longer has are deleted.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import redis

from services.ensemble.contract import build_prefix, interactions_key, user_tag
from services.ensemble.redis_store import delete_each
from training.schema import TARGET

BATCH_USERS = 2_000
STAGING = "interactions_staging:"
"""Where a user's new set is written (in the build's namespace) before its RENAME."""


def clicks(frame: pd.DataFrame) -> pd.DataFrame:
    """The distinct (user_id, item_id) pairs with a click, catalogue ids, sorted."""
    pairs = frame.loc[frame[TARGET] == 1, ["user_id", "item_id"]].drop_duplicates()
    return pairs.sort_values(["user_id", "item_id"]).reset_index(drop=True)


def clicked_items(pairs: pd.DataFrame) -> pd.Series:
    """user id -> sorted list of the catalogue item ids they clicked."""
    return pairs.groupby("user_id")["item_id"].apply(lambda items: sorted(items.tolist()))


def write(client: redis.Redis, clicked: pd.Series, build_id: str) -> dict[str, int]:
    """Replace each user's set of build `build_id` in place, then delete that build's sets of
    users it no longer has (never another build's)."""
    before = set(build_keys(client, build_id))
    written: set[bytes] = set()
    # RENAME replaces the served set in one step: a reader never sees it deleted and not yet
    # refilled. Both keys share the user's hash tag, so they are in one slot of a cluster.
    with client.pipeline(transaction=False) as pipe:
        for count, (user, items) in enumerate(clicked.items(), start=1):
            key = interactions_key(int(user), build_id)
            staging = f"{build_prefix(build_id)}{STAGING}{user_tag(int(user))}"
            pipe.delete(staging)
            pipe.sadd(staging, *items)
            # redis-py's cluster pipeline refuses .rename() (keys may span slots); the command
            # itself is fine here: both keys share the user's hash tag.
            pipe.execute_command("RENAME", staging, key)
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


def build_keys(client: redis.Redis, build_id: str) -> Iterator[bytes]:
    """Build `build_id`'s interaction sets in Redis (not the online ones: another prefix)."""
    match = f"{build_prefix(build_id)}interactions:*"
    return client.scan_iter(match=match, count=1000)  # type: ignore[no-any-return]


def delete(client: redis.Redis, keys: set[bytes]) -> int:
    return delete_each(client, sorted(keys))
