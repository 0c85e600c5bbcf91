"""The standby model's graph follows the executor's served version (services/ensemble/standby.py)
and scores with the parts that need no TensorFlow (services/ensemble/graph.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from services.ensemble.contract import SERVED_VERSION_KEY
from services.ensemble.final_score import ScoreWeights
from services.ensemble.graph import standby_weights
from services.ensemble.stages.base import STANDBY_FILE
from services.ensemble.standby import FollowedExecutor

WITH_ITEMITEM = {"artifacts": {"itemitem_weights": "itemitem_weights.npz"}}


class Served:
    """Redis' answer for SERVED_VERSION_KEY (a stub at our code's edge: the folder rule)."""

    def __init__(self, value: bytes | None = None, down: bool = False) -> None:
        self.value, self.down = value, down

    def get(self, key: str) -> Any:
        assert key == SERVED_VERSION_KEY
        if self.down:
            raise redis.ConnectionError("down")
        return self.value


def versions(tmp_path: Path, *numbers: int, without: tuple[int, ...] = ()) -> Path:
    for number in numbers:
        (tmp_path / str(number) / "ensemble").mkdir(parents=True)
        if number not in without:
            (tmp_path / str(number) / "ensemble" / STANDBY_FILE).write_bytes(b"")
    return tmp_path


def test_the_standby_keeps_the_builds_weights_of_the_parts_without_tensorflow() -> None:
    weights = ScoreWeights(ranking=1.0, retrieval=0.5, itemitem=0.35, segment=0.1)
    kept = standby_weights(weights, WITH_ITEMITEM)
    assert kept.as_dict() == {
        "ranking": 0.0,
        "retrieval": 0.0,
        "itemitem": 0.35,
        "popularity": 0.0,
        "segment": 0.1,
    }


def test_a_build_weighing_only_the_models_gives_the_standby_the_itemitem_model() -> None:
    only_models = ScoreWeights(ranking=1.0, retrieval=0.2)
    assert standby_weights(only_models, WITH_ITEMITEM).used() == ("itemitem",)
    assert standby_weights(only_models, {"artifacts": {}}).used() == ("popularity",)


def test_it_follows_the_version_named_served(tmp_path: Path) -> None:
    model_dir = versions(tmp_path, 1, 2, 3)
    assert FollowedExecutor(model_dir, Served(b"2")).served_version() == 2


def test_before_any_rollout_or_without_redis_it_follows_the_highest_folder(
    tmp_path: Path,
) -> None:
    model_dir = versions(tmp_path, 1, 2, 4, without=(4,))
    assert FollowedExecutor(model_dir, Served(None)).served_version() == 2
    assert FollowedExecutor(model_dir, Served(b"9")).served_version() == 2  # gone: rolled back
    assert FollowedExecutor(model_dir, Served(down=True)).served_version() == 2


def test_no_version_with_standby_stages_fails_saying_so(tmp_path: Path) -> None:
    model_dir = versions(tmp_path, 1, without=(1,))
    with pytest.raises(FileNotFoundError, match=STANDBY_FILE):
        FollowedExecutor(model_dir, Served(None)).served_version()
