"""redacted_url: every password form redis-py reads is masked, the rest of the URL kept."""

from __future__ import annotations

import pytest

from services.ensemble.redis_url import redacted_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:hunter2@cache:6380/2", "rediss://app:***@cache:6380/2"),
        ("redis://app:hun:ter2@cache/0", "redis://app:***@cache/0"),
        ("redis://hunter2@cache/0", "redis://***@cache/0"),
        ("redis://:hun@ter/2@cache/0", "redis://:***@cache/0"),
        ("redis+cluster://:hunter2@a:7000,b:7001", "redis+cluster://:***@a:7000,b:7001"),
        ("unix://:hunter2@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("redis://cache/0?password=hunter2&db=1", "redis://cache/0?password=***&db=1"),
        ("redis://cache/0?db=1&Password=hunter2", "redis://cache/0?db=1&Password=***"),
        (":hunter2@cache:6379", ":***@cache:6379"),
    ],
)
def test_passwords_are_masked(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
    assert "hunter2" not in shown and "ter2" not in shown


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6390/0", "rediss+cluster://a:7000,b:7001", "unix:///run/r.sock"]
)
def test_urls_without_a_password_are_unchanged(url: str) -> None:
    assert redacted_url(url) == url
