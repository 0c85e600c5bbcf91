"""EnsembleSettings: one typed object, from the environment, with validated values."""

from __future__ import annotations

import pydantic
import pytest

from services.ensemble.settings import DEFAULT_REDIS_URL, EnsembleSettings


def test_defaults_keep_redis_below_the_gateways_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "RECSYS_REDIS_TIMEOUT_S", "RECSYS_FEATURE_READER"):
        monkeypatch.delenv(name, raising=False)
    settings = EnsembleSettings()
    assert settings.redis_url == DEFAULT_REDIS_URL
    assert settings.redis_timeout_s < 1.0
    assert (settings.candidate_count, settings.topk, settings.instances) == (100, 10, 1)
    assert (settings.max_batch_size, settings.batch_delay_us) == (64, 0)
    assert settings.item_features == "memory"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6380/2")
    monkeypatch.setenv("RECSYS_REDIS_TIMEOUT_S", "0.25")
    monkeypatch.setenv("RECSYS_FEATURE_READER", "feast")
    settings = EnsembleSettings()
    assert (settings.redis_url, settings.redis_timeout_s, settings.feature_reader) == (
        "redis://cache:6380/2",
        0.25,
        "feast",
    )


def test_the_candidate_count_keeps_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """`candidate_count` (K) is still set by RECSYS_CANDIDATES; `topk` (k) by RECSYS_TOPK."""
    monkeypatch.setenv("RECSYS_CANDIDATES", "40")
    monkeypatch.setenv("RECSYS_TOPK", "5")
    settings = EnsembleSettings()
    assert (settings.candidate_count, settings.topk) == (40, 5)


@pytest.mark.parametrize(
    ("name", "value"),
    [("RECSYS_FEATURE_READER", "sql"), ("RECSYS_REDIS_TIMEOUT_S", "0"), ("RECSYS_TOPK", "-1")],
)
def test_bad_values_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(pydantic.ValidationError):
        EnsembleSettings()
