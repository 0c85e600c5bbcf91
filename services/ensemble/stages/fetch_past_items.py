"""Stage: user ids -> the items each user already had, and a check that Redis holds the build."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble.contract import (
    build_key,
    interactions_key,
    online_interactions_key,
    shown_key,
)
from services.ensemble.online_items import Follower
from services.ensemble.redis_store import (
    BuildNotOnline,
    check_build,
    connect,
    raise_first_error,
    unavailable_on_redis_errors,
)
from services.ensemble.settings import EnsembleSettings
from services.ensemble.stages.base import PER_ROW, PER_USER_LIST, Columns, ColumnType, Stage


class FetchPastItems(Stage):
    """`users` -> `past`: the union of each user's build set and online set, padded with -1;
    with `shown` named, also every item shown to the user: `past` and the build's set of the
    items shown to them without a click (`shown_key`), for builds that read it.

    The build set is build `build_id`'s own (its namespace: another build's rollout never
    changes it). The same pipelined round trip reads the build's marker (`build_key`): if Redis
    does not hold `build_id`'s state (e.g. it restarted empty), the request fails with
    BuildNotOnline instead of answering known users with fallbacks. Both sets are read with
    SMEMBERS and joined here: a Redis Cluster pipeline refuses multi-key commands; the sets'
    hash tag keeps them on one node.

    With `followers` set (by the executor: the live rules, when this stage runs before every
    stage reading them, and the online catalogue), the same round trip reads each one's
    counter and hands it the reply (`read_version` / `follow`).
    """

    followers: tuple[Follower, ...] = ()

    def __init__(
        self,
        build_id: str,
        users: str,
        past: str,
        build_epoch: str | None = None,
        shown: str | None = None,
    ) -> None:
        writes: dict[str, ColumnType] = {past: (np.int32, PER_USER_LIST)}
        if build_epoch:
            writes[build_epoch] = (np.int64, PER_ROW)
        if shown:
            writes[shown] = (np.int32, PER_USER_LIST)
        super().__init__(reads=(users,), writes=writes)
        self.build_id = build_id
        self.users = users
        self.past = past
        self.build_epoch = build_epoch
        self.shown = shown
        self.marker_changes = 0
        """How often a request found Redis' build marker other than `build_id` (a materialize
        or restart happened): stages holding online state in memory re-read it then."""

    def connect(self) -> Any:
        return connect(EnsembleSettings())

    def run(self, columns: Columns) -> Columns:
        users = columns[self.users].reshape(-1).tolist()
        followers = self.followers
        with unavailable_on_redis_errors(), self.state.pipeline(transaction=False) as pipe:
            for follower in followers:
                follower.read_version(pipe)
            pipe.get(build_key(self.build_id))
            for user in users:
                pipe.smembers(interactions_key(user, self.build_id))
                pipe.smembers(online_interactions_key(user))
                if self.shown:
                    pipe.smembers(shown_key(user, self.build_id))
            results = pipe.execute(raise_on_error=False)
            for follower in followers:  # an error reply is the follower's to handle
                follower.follow(results.pop(0))
            raise_first_error(results)
            held, *replies = results
        step = 3 if self.shown else 2
        sets = [
            build | online for build, online in zip(replies[::step], replies[1::step], strict=True)
        ]
        try:
            check_build(held, self.build_id)
        except BuildNotOnline:
            self.marker_changes += 1
            raise
        out: Columns = {self.past: padded(sets)}
        if self.shown:
            out[self.shown] = padded(
                [past | shown for past, shown in zip(sets, replies[2::step], strict=True)]
            )
        if self.build_epoch:
            out[self.build_epoch] = np.full(len(users), self.marker_changes, dtype=np.int64)
        return out


def padded(sets: list[set[Any]]) -> NDArray[np.int32]:
    """int32 [n, W]: each set's members (Redis bytes or ints) ascending, -1 padded."""
    width = max([1, *(len(members) for members in sets)])
    out = np.full((len(sets), width), -1, dtype=np.int32)
    for row, members in enumerate(sets):
        out[row, : len(members)] = sorted(int(m) for m in members)
    return out
