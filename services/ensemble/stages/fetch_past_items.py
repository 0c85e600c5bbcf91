"""Stage: user ids -> the items each user already had, and a check that Redis holds the build."""

from __future__ import annotations

from typing import Any

import numpy as np

from services.ensemble.contract import (
    ONLINE_BUILD_KEY,
    interactions_key,
    online_interactions_key,
)
from services.ensemble.redis_store import check_build, connect, unavailable_on_redis_errors
from services.ensemble.settings import EnsembleSettings
from services.ensemble.stages.base import PER_USER_LIST, Columns, Stage


class FetchPastItems(Stage):
    """`users` -> `past`: the union of each user's build set and online set, padded with -1.

    The same pipelined round trip reads Redis' build marker: if Redis does not hold `build_id`'s
    state (e.g. it restarted empty), the request fails with BuildNotOnline instead of answering
    known users with fallbacks.
    """

    def __init__(self, build_id: str, users: str, past: str) -> None:
        super().__init__(reads=(users,), writes={past: (np.int32, PER_USER_LIST)})
        self.build_id = build_id
        self.users = users
        self.past = past

    def connect(self) -> Any:
        return connect(EnsembleSettings())

    def run(self, columns: Columns) -> Columns:
        users = columns[self.users].reshape(-1).tolist()
        with unavailable_on_redis_errors(), self.state.pipeline(transaction=False) as pipe:
            pipe.get(ONLINE_BUILD_KEY)
            for user in users:
                pipe.sunion(interactions_key(user), online_interactions_key(user))
            held, *sets = pipe.execute()
        check_build(held, self.build_id)
        width = max([1, *(len(members) for members in sets)])
        past = np.full((len(users), width), -1, dtype=np.int32)
        for row, members in enumerate(sets):
            past[row, : len(members)] = sorted(int(m) for m in members)
        return {self.past: past}
