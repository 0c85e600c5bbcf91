"""The A/B split: which model version serves a user, by a stable hash of the user id.

`GATEWAY_AB=2:90,3:10` sends about 90% of the users to version 2 of the model and 10% to
version 3; a user's version never changes while the setting stays (the hash of the id, not a
random draw, decides). Without the setting every request names no version: Triton serves its
latest.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from itertools import accumulate

BUCKETS = 10_000
"""Hash buckets: a share of 0.01% is one bucket."""


def parse_split(text: str) -> tuple[tuple[int, float], ...]:
    """`"2:90,3:10"` -> ((2, 90.0), (3, 10.0)); ValueError in one line unless it is a list of
    distinct positive versions with positive shares (percent) summing to 100."""
    pairs = []
    for part in text.split(","):
        version, sep, share = part.strip().partition(":")
        try:
            pair = (int(version), float(share))
        except ValueError:
            pair = (0, 0.0)
        if not sep or pair[0] < 1 or not 0 < pair[1] <= 100:
            raise ValueError(
                f"{part.strip()!r} is not version:share (a version >= 1 and a share in percent, "
                "e.g. 2:90,3:10)"
            )
        pairs.append(pair)
    versions = [version for version, _ in pairs]
    if len(set(versions)) != len(versions):
        raise ValueError("a version listed twice")
    if abs(sum(share for _, share in pairs) - 100) > 1e-6:
        raise ValueError(f"the shares add up to {sum(s for _, s in pairs):g}, not 100")
    return tuple(pairs)


def bucket_of(user_id: int) -> int:
    """The user's bucket in 0..BUCKETS-1: the same for the same id in every process and run
    (blake2b, not Python's salted hash())."""
    digest = hashlib.blake2b(str(user_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


class ABSplit:
    """The versions and their shares; `version_for(user_id)` is the user's version."""

    def __init__(self, split: tuple[tuple[int, float], ...]) -> None:
        self.versions = [version for version, _ in split]
        # bucket bounds: version i owns buckets [bounds[i-1], bounds[i])
        self._bounds = [round(end * BUCKETS / 100) for end in accumulate(s for _, s in split)]

    def version_for(self, user_id: int) -> int:
        index = bisect_right(self._bounds, bucket_of(user_id))
        return self.versions[min(index, len(self.versions) - 1)]
