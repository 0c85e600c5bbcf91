"""The gateway's settings: environment parsing, consistency checks, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.gateway.core.config import Settings, is_loopback, problems_of


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.api_key is None and settings.metrics_require_key is False
    assert settings.host == "127.0.0.1" and settings.allow_anonymous is False
    assert settings.max_body_bytes == 16 * 1024
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert not settings.redis_tls
    assert (settings.write_rate_per_s, settings.write_burst) == (200, 400)
    assert settings.write_rate_clients == 10_000


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    for name, value in {
        "GATEWAY_API_KEY": "abc",
        "GATEWAY_METRICS_REQUIRE_KEY": "true",
        "GATEWAY_MAX_BODY_BYTES": "1024",
        "GATEWAY_REDIS_URL": "rediss://cache:6380/2",
        "GATEWAY_REDIS_PASSWORD": "pw",
        "GATEWAY_REDIS_CA_FILE": str(ca),
        "GATEWAY_HOST": "0.0.0.0",
        "GATEWAY_WRITE_RATE_PER_S": "2.5",
        "GATEWAY_WRITE_BURST": "5",
        "GATEWAY_WRITE_RATE_CLIENTS": "64",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "abc"
    assert settings.metrics_require_key and settings.max_body_bytes == 1024
    assert settings.redis_tls and settings.redis_ca_file == ca
    assert settings.host == "0.0.0.0"
    assert (settings.write_rate_per_s, settings.write_burst, settings.write_rate_clients) == (
        2.5,
        5,
        64,
    )


def test_empty_key_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_API_KEY", "")
    monkeypatch.setenv("GATEWAY_REDIS_PASSWORD", "")
    settings = Settings()
    assert settings.api_key is None and settings.redis_password is None


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"metrics_require_key": True}, "GATEWAY_API_KEY"),
        ({"redis_url": "http://cache:6379"}, "redis://"),
        ({"redis_url": "redis://cache", "redis_ca_file": "/etc/hostname"}, "rediss://"),
        ({"redis_url": "rediss://cache", "redis_ca_file": "/no/such/ca.pem"}, "not a file"),
        ({"max_body_bytes": 0}, "greater than"),
        ({"redis_url": "redis://:a@cache", "redis_password": "b"}, "both"),
        ({"write_rate_per_s": -1}, "greater than or equal to 0"),
        ({"write_burst": 0}, "greater than or equal to 1"),
        ({"write_rate_clients": 0}, "greater than or equal to 1"),
    ],
)
def test_inconsistent_settings_are_refused(values: dict[str, object], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        Settings(**values)  # type: ignore[arg-type]


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    settings = Settings(api_key="k-123", redis_url="redis://:pw-456@cache:6379/0")  # type: ignore[arg-type]
    assert "k-123" not in repr(settings) and "pw-456" not in repr(settings)
    with pytest.raises(ValidationError) as error:
        Settings(redis_url="http://:pw-456@cache")  # type: ignore[arg-type]
    assert "pw-456" not in str(error.value)


def test_problems_name_the_variable() -> None:
    with pytest.raises(ValidationError) as error:
        Settings(metrics_require_key=True, port=0)  # type: ignore[arg-type]
    assert problems_of(error.value) == ["GATEWAY_PORT: Input should be greater than or equal to 1"]
    with pytest.raises(ValidationError) as error:
        Settings(metrics_require_key=True)  # type: ignore[arg-type]
    assert problems_of(error.value) == ["GATEWAY_METRICS_REQUIRE_KEY needs GATEWAY_API_KEY"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_hosts_need_no_key(host: str) -> None:
    assert is_loopback(host)
    assert Settings(host=host).api_key is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.example", ""])
def test_a_reachable_host_without_a_key_is_refused_in_one_line(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ValidationError) as error:
        Settings(host=host)
    assert problems_of(error.value) == [
        f"GATEWAY_HOST {host} is reachable from other machines: set GATEWAY_API_KEY, or "
        "GATEWAY_ALLOW_ANONYMOUS=true to serve without a key"
    ]


def test_a_reachable_host_serves_with_a_key_or_when_anonymous_access_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(host="0.0.0.0", api_key="k").api_key is not None  # type: ignore[arg-type]
    monkeypatch.setenv("GATEWAY_HOST", "0.0.0.0")
    monkeypatch.setenv("GATEWAY_ALLOW_ANONYMOUS", "true")
    assert Settings().allow_anonymous is True
    monkeypatch.setenv("GATEWAY_ALLOW_ANONYMOUS", "false")
    monkeypatch.setenv("GATEWAY_API_KEY", "")  # compose passes an unset key as empty
    with pytest.raises(ValidationError, match="GATEWAY_ALLOW_ANONYMOUS"):
        Settings()
