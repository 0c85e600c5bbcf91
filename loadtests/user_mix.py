"""Which user each request asks for, how requests are named by case, and what a right answer is."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

KNOWN, UNKNOWN = "known", "unknown"
CASES = (KNOWN, UNKNOWN)
"""Index = the case's code in the request record."""
INT32_MAX = 2**31 - 1
UNKNOWN_ID_RANGE = (1_900_000_000, INT32_MAX)
"""Unknown ids are drawn from here (the build's ids are far smaller), never one the build knows."""


def request_name(unknown: bool) -> str:
    """Locust's name of a request: the two cases are reported apart."""
    return f"/recommend [{UNKNOWN if unknown else KNOWN}]"


def case_code(name: str) -> int:
    """The index in CASES of a request named by `request_name`."""
    return CASES.index(UNKNOWN) if name.endswith(f"[{UNKNOWN}]") else CASES.index(KNOWN)


def user_rng(seed: int, instance: int) -> random.Random:
    """Each simulated user's own random stream, reproducible from the mix's seed."""
    return random.Random(seed * 1_000_003 + instance)


class UserMix:
    """Known ids drawn uniformly, and a share of ids the build does not know."""

    def __init__(self, known: Sequence[int], unknown_share: float) -> None:
        self.known = list(known)
        self.known_set = frozenset(self.known)
        self.unknown_share = unknown_share

    def next_user(self, rng: random.Random) -> tuple[int, bool]:
        """(user id, whether the build does not know it)."""
        if rng.random() < self.unknown_share:
            for _ in range(100):  # bounded: the build's ids are far below this range
                user = rng.randint(*UNKNOWN_ID_RANGE)
                if user not in self.known_set:
                    return user, True
        return rng.choice(self.known), False


def check_answer(body: Any, user: int, unknown: bool, k: int) -> str | None:
    """Why a 200 answer is wrong, or None when it is right."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("user_id") != user:
        return f"user_id {body.get('user_id')!r} != {user}"
    items = body.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= k:
        return f"expected 1..{k} items, got {items!r:.80}"
    if body.get("fallback") is not unknown:
        return (
            f"fallback is {body.get('fallback')!r} for a{'n unknown' if unknown else ' known'} user"
        )
    return None
