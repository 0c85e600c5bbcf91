from __future__ import annotations

from pydantic import SecretStr

from services.gateway.core.auth import key_matches


def test_key_matches_only_the_exact_key() -> None:
    key = SecretStr("s3cret")
    assert key_matches("s3cret", key)
    for wrong in (None, "", "s3cre", "s3cret ", "S3CRET", "s3crét"):
        assert not key_matches(wrong, key)
