"""Stand-ins for the gateway's edges (our own Recommender, OnlineStore and AttributionStore), for
route tests. The real ones are tested against real Triton and Redis in
tests/integration/test_gateway.py and tests/unit/gateway/core/test_attribution_store.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from services.gateway.core.attribution_store import Counts, arm_counts, increments
from services.gateway.core.impressions import ArmVersion, Batch, Impression
from services.gateway.core.online_store import OnlineStoreUnavailable
from services.gateway.core.replicas import ReplicaState, replica_state
from services.gateway.core.triton import ModelState, Ranking, TritonFailed, TritonUnavailable


@dataclass
class StubRecommender:
    ranking: Ranking = field(
        default_factory=lambda: Ranking(
            item_ids=list(range(100, 110)),
            scores=[1 - i / 10 for i in range(10)],
            fallback=False,
            model_version=1,
        )
    )
    failure: Exception | None = None
    state: ModelState | Exception = field(
        default_factory=lambda: ModelState(ready=True, build_id="build-1")
    )
    calls: list[int] = field(default_factory=list)
    versions: list[int | None] = field(default_factory=list)

    async def rank(
        self, user_id: int, timeout_s: float | None = None, version: int | None = None
    ) -> Ranking:
        self.calls.append(user_id)
        self.versions.append(version)
        if self.failure is not None:
            raise self.failure
        return self.ranking

    async def model_state(self) -> ModelState:
        if isinstance(self.state, Exception):
            raise self.state
        return self.state

    async def replica_states(self, timeout_s: float) -> list[ReplicaState]:
        return [await replica_state(0, self, timeout_s)]

    async def close(self) -> None:
        pass


@dataclass
class StubOnlineStore:
    held_build: str | None = "build-1"
    down: bool = False
    sets: dict[int, set[int]] = field(default_factory=dict)

    async def record_interaction(self, user_id: int, item_id: int) -> bool:
        if self.down:
            raise OnlineStoreUnavailable("Redis SADD failed: ConnectionError('10.0.0.7:6379')")
        items = self.sets.setdefault(user_id, set())
        new = item_id not in items
        items.add(item_id)
        return new

    async def build_id(self) -> str | None:
        if self.down:
            raise OnlineStoreUnavailable("Redis GET failed: ConnectionError('10.0.0.7:6379')")
        return self.held_build


@dataclass
class StubAttributionStore:
    """AttributionStore in memory: the counters hashes as Redis would hold them."""

    down: bool = False
    impressions: dict[str, Impression] = field(default_factory=dict)
    hashes: dict[ArmVersion, Counter[str]] = field(default_factory=dict)
    unattributed: Counter[str] = field(default_factory=Counter)
    clicked: set[tuple[str, int]] = field(default_factory=set)

    async def write(self, batch: Batch, ttl_s: int) -> None:
        self._check()
        self.impressions.update(batch.impressions)
        for pair, fields in increments(batch).items():
            self.hashes.setdefault(pair, Counter()).update(fields)

    async def impression(self, request_id: str) -> Impression | None:
        self._check()
        return self.impressions.get(request_id)

    async def first_click(self, request_id: str, item_id: int, ttl_s: int) -> bool:
        self._check()
        new = (request_id, item_id) not in self.clicked
        self.clicked.add((request_id, item_id))
        return new

    async def count_click(self, arm: str, version: str, position: int) -> None:
        self._check()
        self.hashes.setdefault((arm, version), Counter())[f"clicks:{position}"] += 1

    async def count_unattributed(self, reason: str) -> None:
        self._check()
        self.unattributed[reason] += 1

    async def counts(self) -> Counts:
        self._check()
        arms = (
            arm_counts(arm, version, dict(h)) for (arm, version), h in sorted(self.hashes.items())
        )
        return Counts(tuple(arms), dict(self.unattributed))

    def _check(self) -> None:
        if self.down:
            raise OnlineStoreUnavailable("Redis GET failed: ConnectionError('10.0.0.7:6379')")


def unavailable(outcome: str = "unavailable") -> TritonUnavailable:
    return TritonUnavailable("StatusCode.UNAVAILABLE: connect to 10.0.0.9:8001 failed", outcome)


def failed() -> TritonFailed:
    return TritonFailed("StatusCode.INTERNAL: KeyError: 'item_category' at 10.0.0.9")
