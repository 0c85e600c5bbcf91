"""loadtests/loopback.py: only this machine's addresses are targets."""

from __future__ import annotations

import pytest

from loadtests.loopback import is_loopback_host, is_loopback_url


@pytest.mark.parametrize("host", ["127.0.0.1", "127.9.9.9", "::1", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["10.1.2.3", "192.168.0.9", "example.com", "", None])
def test_other_hosts(host: str | None) -> None:
    assert not is_loopback_host(host)


def test_urls_must_be_http_on_a_loopback_host() -> None:
    assert is_loopback_url("http://127.0.0.1:8080") and is_loopback_url("https://[::1]:1/")
    assert not is_loopback_url("http://10.0.0.1:8080")
    assert not is_loopback_url("grpc://127.0.0.1:8001")
    assert not is_loopback_url(None)
