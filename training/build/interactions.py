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

from collections.abc import Callable, Iterator

import pandas as pd
import redis

from services.ensemble.contract import build_prefix, interactions_key, shown_key, user_tag
from services.ensemble.redis_store import delete_each
from training.data.schema import TARGET

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


SET_KINDS: dict[str, Callable[[int, str], str]] = {
    "interactions": interactions_key,
    "shown": shown_key,
}
"""The build's per-user sets: the items each user clicked, and the items shown to them without
a click (written only for builds whose filter or item-item model reads them)."""


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The distinct (user_id, item_id) pairs shown and never clicked, catalogue ids, sorted."""
    pairs = frame[["user_id", "item_id"]].drop_duplicates()
    marked = pairs.merge(clicks(frame), how="left", indicator=True)
    unclicked = pairs[(marked["_merge"] == "left_only").to_numpy()]
    return unclicked.sort_values(["user_id", "item_id"]).reset_index(drop=True)


def write(
    client: redis.Redis, clicked: pd.Series, build_id: str, kind: str = "interactions"
) -> dict[str, int]:
    """Replace each user's set of build `build_id` (`kind`: one of SET_KINDS) in place, then
    delete that build's sets of that kind of users it no longer has (never another build's)."""
    key_of = SET_KINDS[kind]
    before = set(build_keys(client, build_id, kind))
    written: set[bytes] = set()
    # RENAME replaces the served set in one step: a reader never sees it deleted and not yet
    # refilled. Both keys share the user's hash tag, so they are in one slot of a cluster.
    with client.pipeline(transaction=False) as pipe:
        for count, (user, items) in enumerate(clicked.items(), start=1):
            key = key_of(int(user), build_id)
            staging = f"{build_prefix(build_id)}{STAGING}{kind}:{user_tag(int(user))}"
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


def build_keys(client: redis.Redis, build_id: str, kind: str = "interactions") -> Iterator[bytes]:
    """Build `build_id`'s sets of `kind` in Redis (not the online ones: another prefix)."""
    match = f"{build_prefix(build_id)}{kind}:*"
    return client.scan_iter(match=match, count=1000)  # type: ignore[no-any-return]


def delete(client: redis.Redis, keys: set[bytes]) -> int:
    return delete_each(client, sorted(keys))
