import pytest

from services.ensemble.settings import feast_redis_connection
from training.settings import TrainingSettings


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379"),
        ("redis://localhost:7000", "localhost:7000"),
        ("redis://redis/3", "redis:6379,db=3"),
        ("redis://:s3cret@cache:6380/1", "cache:6380,db=1,password=s3cret"),
        ("rediss://cache:6380", "cache:6380,ssl=true"),
    ],
)
def test_feast_connection_string(url: str, expected: str) -> None:
    assert feast_redis_connection(url) == expected


@pytest.mark.parametrize("url", ["http://x:1", "127.0.0.1:6379", "redis://"])
def test_bad_redis_url_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        feast_redis_connection(url)


def test_settings_read_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert TrainingSettings().redis_url == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("REDIS_URL", "redis://other:1/2")
    assert TrainingSettings().redis_url == "redis://other:1/2"
