"""Keys named before the Redis Cluster hash tags, moved to their current names.

The online interaction sets were `multi_stage_recsys:online_interactions:<user_id>`; they are now
`...:{<user_id>}` (`contract.online_interactions_key`: the hash tag puts a user's sets in one
slot). No build deletes the online sets, so the old ones would otherwise stay unread: each is
merged into its new name and deleted. Single-key commands only, so it runs on a cluster too;
a Redis without old keys costs one SCAN.
"""

from __future__ import annotations

from typing import Any

from services.ensemble.contract import ONLINE_INTERACTIONS_PREFIX, online_interactions_key


def tag_online_sets(client: Any) -> int:
    """Move every untagged online interaction set to its tagged name; how many were moved."""
    old_keys = [
        key
        for key in client.scan_iter(match=f"{ONLINE_INTERACTIONS_PREFIX}*", count=1000)
        if key.decode().removeprefix(ONLINE_INTERACTIONS_PREFIX).isdigit()
    ]
    for key in old_keys:
        user = int(key.decode().removeprefix(ONLINE_INTERACTIONS_PREFIX))
        members = client.smembers(key)
        if members:
            client.sadd(online_interactions_key(user), *members)
        client.delete(key)
    return len(old_keys)
