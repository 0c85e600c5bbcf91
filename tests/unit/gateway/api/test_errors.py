"""Error bodies: 422 sentences stay short."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.gateway.api.errors import MAX_PROBLEM_CHARS


def test_a_long_key_name_is_trimmed_in_the_422(client: TestClient) -> None:
    response = client.post("/interactions", json={"user_id": 1, "item_id": 2, "x" * 5000: 1})
    assert response.status_code == 422
    (problem,) = response.json()["errors"]
    assert len(problem) == MAX_PROBLEM_CHARS and problem.endswith("...")
