"""Prometheus metrics of one app instance (own registry: several apps can live in one process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.request_seconds = Histogram(
            "gateway_request_seconds",
            "Time to answer an HTTP request; model_version: the model version that answered, "
            "none for routes without a model answer and for failed ones",
            ["route", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "gateway_requests",
            "HTTP requests answered (model_version as in gateway_request_seconds)",
            ["route", "status", "model_version"],
            registry=self.registry,
        )
        self.triton_seconds = Histogram(
            "gateway_triton_call_seconds",
            "Time of one Triton inference call; outcome: ok, timeout, unavailable (Triton "
            "unreachable or the executor's UNAVAILABLE, e.g. Redis down), model_unavailable "
            "(unknown, unloaded or not ready: Triton shutting down), error (other model errors); "
            "model_version: the version that answered, else the one asked (latest: none named)",
            ["outcome", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.replica_calls = Counter(
            "gateway_triton_replica_calls",
            "Inference calls per Triton replica (its index in GATEWAY_TRITON_URL) and outcome "
            "(as in gateway_triton_call_seconds)",
            ["replica", "outcome"],
            registry=self.registry,
        )
        self.replica_retries = Counter(
            "gateway_triton_retries",
            "Requests retried on another replica after a transport-level failure",
            registry=self.registry,
        )
        self.replica_up = Gauge(
            "gateway_triton_replica_up",
            "1 while a Triton replica takes requests, 0 while it is skipped until a probe succeeds",
            ["replica"],
            registry=self.registry,
        )
        self.standby_answers = Counter(
            "gateway_standby_answers",
            "Answers given by the standby model while the executor could not answer, by why "
            "(failed: it failed or was too slow for this request; held: it had just failed)",
            ["reason"],
            registry=self.registry,
        )
        self.fallbacks = Counter(
            "gateway_fallbacks",
            "Answers given by the popular-items fallback, by the model version that gave them",
            ["model_version"],
            registry=self.registry,
        )
        self.impressions_written = Counter(
            "gateway_impressions_written",
            "Sampled /recommend answers written to Redis for click attribution",
            registry=self.registry,
        )
        self.impressions_dropped = Counter(
            "gateway_impressions_dropped",
            "Sampled answers not written: buffer_full (GATEWAY_ATTRIBUTION_MAX_PENDING waiting), "
            "redis (the write failed); their clicks count as unknown_request",
            ["reason"],
            registry=self.registry,
        )
        self.impressions_flush_seconds = Histogram(
            "gateway_impressions_flush_seconds",
            "Time of one background write of sampled answers and request counts to Redis",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.catalogue_writes = Counter(
            "gateway_catalogue_writes",
            "Writes to the online catalogue (PUT and DELETE /items, PUT /users), by kind: "
            "item_added, item_replaced, item_retired, user_added, user_replaced",
            ["kind"],
            registry=self.registry,
        )
