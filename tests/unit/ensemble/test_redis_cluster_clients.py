"""The serving side's Redis client on a real three-master Redis Cluster: the interaction-set stage
through the cluster's pipeline, and an unreachable cluster as OnlineStoreUnavailable."""

from __future__ import annotations

import numpy as np
import pytest

from services.ensemble.contract import build_key, interactions_key, online_interactions_key
from services.ensemble.redis_store import OnlineStoreUnavailable, client_from_url
from services.ensemble.stages import FetchPastItems
from tests.conftest import free_port
from tests.redis_cluster import RedisCluster, redis_cluster  # noqa: F401 (the fixture)


def stage(client: object) -> FetchPastItems:
    op = FetchPastItems("build-1", users="user_id", past="past_ids")
    op._state = client
    return op


def test_past_items_through_the_cluster_pipeline(redis_cluster: RedisCluster) -> None:  # noqa: F811
    client = client_from_url(redis_cluster.url, 1.0, 1.0)
    client.set(build_key("build-1"), "build-1")
    users = list(range(1, 41))  # spread over the three masters
    for user in users:
        client.sadd(interactions_key(user, "build-1"), user, 1000)
        client.sadd(online_interactions_key(user), 2000 + user)
    out = stage(client).run({"user_id": np.asarray([*users, 99], dtype=np.int32)})
    expected = [[user, 1000, 2000 + user] for user in users] + [[-1, -1, -1]]
    assert out["past_ids"].tolist() == expected
    owners = {client.get_node_from_key(interactions_key(u, "build-1")).name for u in users}
    assert len(owners) == 3


def test_unreachable_cluster_is_unavailable_without_its_address() -> None:
    dead = client_from_url(f"redis+cluster://127.0.0.1:{free_port()}", 0.2, 0.2)
    with pytest.raises(OnlineStoreUnavailable) as caught:
        stage(dead).run({"user_id": np.array([1], dtype=np.int32)})
    assert "127.0.0.1" not in str(caught.value)
