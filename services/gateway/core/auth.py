"""The API key check: constant-time, the key never logged."""

from __future__ import annotations

import hmac

from pydantic import SecretStr


def key_matches(provided: str | None, expected: SecretStr) -> bool:
    """True when the client's key equals the configured one. compare_digest takes the same time
    wherever the first difference is, so the key cannot be guessed byte by byte from timings."""
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode(), expected.get_secret_value().encode())
