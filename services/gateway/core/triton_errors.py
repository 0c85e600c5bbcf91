"""The two ways a Triton call fails, as the gateway's routes tell them apart."""

from __future__ import annotations


class TritonUnavailable(Exception):
    """Worth retrying later: Triton unreachable, too slow, shutting down, the model missing or
    not ready, or the executor reported a retryable failure (status UNAVAILABLE, e.g. Redis
    down). The message is for the log, never for a response body."""

    def __init__(self, message: str, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class TritonFailed(Exception):
    """Triton answered with a non-retryable error for this request (log only)."""
