"""ObserveRequests: a request id on every answer, metrics for every status."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient


def test_every_answer_has_its_own_request_id(client: TestClient) -> None:
    ids = {
        client.get("/healthz").headers["X-Request-ID"],
        client.get("/nowhere").headers["X-Request-ID"],
        client.get("/recommend", params={"user_id": "x"}).headers["X-Request-ID"],
    }
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)


def test_statuses_are_counted_by_route(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=10)
    client.get("/recommend", params={"user_id": 1})
    client.get("/recommend", params={"user_id": "x"})
    client.get("/nowhere")
    client.post("/interactions", content=b"x" * 11)
    text = client.get("/metrics").text
    for line in (
        'gateway_requests_total{model_version="1",route="/recommend",status="200"} 1.0',
        'gateway_requests_total{model_version="none",route="/recommend",status="422"} 1.0',
        'gateway_requests_total{model_version="none",route="unmatched",status="404"} 1.0',
        'gateway_requests_total{model_version="none",route="unmatched",status="413"} 1.0',
        'gateway_request_seconds_count{model_version="1",route="/recommend"} 1.0',
        'gateway_request_seconds_count{model_version="none",route="/recommend"} 1.0',
    ):
        assert line in text
