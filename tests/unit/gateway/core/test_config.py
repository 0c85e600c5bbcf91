"""The gateway's settings: environment parsing, consistency checks, secrets kept out of sight."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.gateway.core.config import Settings, problems_of


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.api_key is None and settings.metrics_require_key is False
    assert settings.max_body_bytes == 16 * 1024
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert not settings.redis_tls


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
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "abc"
    assert settings.metrics_require_key and settings.max_body_bytes == 1024
    assert settings.redis_tls and settings.redis_ca_file == ca


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
