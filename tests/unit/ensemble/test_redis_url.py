"""A Redis Cluster URL: parsing, Feast's connection string, and the settings that accept it."""

from __future__ import annotations

import pytest

from services.ensemble.redis_url import ClusterTarget, check_url, is_cluster, parse_cluster
from services.ensemble.settings import EnsembleSettings, feast_redis_connection, feast_redis_type
from training.errors import BuildError
from training.settings import TrainingSettings


def test_cluster_url_names_its_nodes_and_credentials() -> None:
    url = "rediss+cluster://app:s%40cret@redis-0:7000, redis-1:7001,[::1]:7002,redis-3/0"
    assert is_cluster(url)
    assert parse_cluster(url) == ClusterTarget(
        nodes=(("redis-0", 7000), ("redis-1", 7001), ("::1", 7002), ("redis-3", 6379)),
        username="app",
        password="s@cret",
        tls=True,
    )
    assert parse_cluster("redis+cluster://:pw@a:1").username is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://a:1,b:2/3", "database 0 only"),
        ("redis+cluster://a:1,,b:2", "an empty node"),
        ("redis+cluster://a:70000", "bad port"),
        ("redis+cluster://a:1?timeout=3", "no query"),
        ("redis+cluster://:9", "without a host"),
        ("http://a:1", "must start with redis://"),
    ],
)
def test_malformed_urls_are_refused_in_one_line(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_url(url)


def test_single_urls_pass_unchanged() -> None:
    for url in ("redis://a:1/2", "rediss://:pw@a:1/0", "unix:///tmp/redis.sock?db=1"):
        assert not is_cluster(url)
        assert check_url(url) == url


def test_feast_gets_redis_cluster_mode_and_a_node_list() -> None:
    url = "redis+cluster://:pw@a:7000,b:7001"
    assert feast_redis_type(url) == "redis_cluster"
    assert feast_redis_connection(url) == "a:7000,b:7001,password=pw"
    assert feast_redis_type("redis://a:1/0") == "redis"
    assert feast_redis_connection("rediss+cluster://a:7000") == "a:7000,ssl=true"


def test_settings_objects_take_a_cluster_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "redis+cluster://a:7000,b:7001,c:7002"
    monkeypatch.setenv("REDIS_URL", url)
    assert EnsembleSettings().redis_url == url
    assert TrainingSettings().redis_url == url
    monkeypatch.setenv("REDIS_URL", "redis+cluster://a:7000/2")
    with pytest.raises(ValueError, match="database 0 only"):
        EnsembleSettings()
    with pytest.raises(BuildError, match="^REDIS_URL: a Redis Cluster has database 0 only"):
        TrainingSettings()
