"""gRPC benchmark of the executor model on a running Triton server (not a test).

    python -m loadtests.bench_triton --build artifacts [--url 127.0.0.1:8001]
        [--requests 2000] [--concurrency 16] [--duration 20] [--model-repository model_repository]
        [--gateway-url http://127.0.0.1:8080]

Measures sequential and concurrent latency (p50/p95/p99) and throughput with known users drawn
from the build, the server's RSS (tritonserver plus its python-backend stubs), Triton's own
per-request statistics, and the per-stage time of the same graph run in this process with both
online-store readers, one user per pass and `--concurrency` users per pass (a batch). Works
against batched exports (user_id [n, 1]) and older unbatched ones (user_id [n]). With
--gateway-url, the same users sequentially through the HTTP gateway, interleaved with direct
gRPC calls, to show the gateway's share of the latency.
Prints one JSON document (and writes it with --out).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil
import tritonclient.grpc as grpcclient

from loadtests.machine import machine
from loadtests.user_table import USER_TABLE, read_user_ids
from services.ensemble.contract import INPUT, MODEL_NAME

SERVER_PROCESSES = ("tritonserver", "triton_python_backend_stub")


def known_users(build_dir: Path, count: int, seed: int = 0) -> npt.NDArray[np.int32]:
    ids = np.asarray(read_user_ids(build_dir / USER_TABLE), dtype=np.int32)
    return np.random.default_rng(seed).choice(ids, size=count)


BATCHED = True
"""Whether the served model batches (max_batch_size > 0: user_id [n, 1]) or not (an export
older than dynamic batching: user_id [n]); set from the served config in main()."""


def one_request(client: grpcclient.InferenceServerClient, user: int) -> float:
    shape = [1, 1] if BATCHED else [1]
    request = grpcclient.InferInput(INPUT, shape, "INT32")
    request.set_data_from_numpy(np.full(shape, user, dtype=np.int32))
    start = time.perf_counter()
    client.infer(MODEL_NAME, [request])
    return time.perf_counter() - start


def served_batching(url: str) -> dict[str, int]:
    config = grpcclient.InferenceServerClient(url).get_model_config(MODEL_NAME, as_json=True)
    model = config["config"]
    return {
        "max_batch_size": int(model.get("max_batch_size", 0)),
        "queue_delay_us": int(
            model.get("dynamic_batching", {}).get("max_queue_delay_microseconds", 0)
        ),
        "instances": sum(int(group.get("count", 1)) for group in model["instance_group"]),
    }


def summarize(latencies: list[float], seconds: float) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(ms),
        "throughput_rps": round(len(ms) / seconds, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def sequential(url: str, users: npt.NDArray[np.int32]) -> dict[str, float]:
    client = grpcclient.InferenceServerClient(url)
    for user in users[:50]:
        one_request(client, int(user))  # warm-up
    start = time.perf_counter()
    latencies = [one_request(client, int(user)) for user in users]
    return summarize(latencies, time.perf_counter() - start)


def concurrent(
    url: str, users: npt.NDArray[np.int32], workers: int, seconds: float
) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(workers)]
    errors = [0] * workers
    deadline = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        client = grpcclient.InferenceServerClient(url)
        position = slot
        while time.perf_counter() < deadline:
            try:
                latencies[slot].append(one_request(client, int(users[position % len(users)])))
            except Exception:  # counted, not fatal: the benchmark reports errors
                errors[slot] += 1
            position += workers

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    merged = [value for chunk in latencies for value in chunk]
    return {**summarize(merged, elapsed), "concurrency": workers, "errors": sum(errors)}


def gateway_overhead(url: str, gateway_url: str, users: npt.NDArray[np.int32]) -> dict[str, Any]:
    """Sequential latency through the gateway vs straight to Triton, alternating per user.

    Both clients are lean (tritonclient's gRPC client; http.client with keep-alive), so the
    difference is the gateway's share, not a client library's.
    """
    import http.client
    from urllib.parse import urlsplit

    client = grpcclient.InferenceServerClient(url)
    parts = urlsplit(gateway_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port or 80, timeout=5
    )

    def via_gateway(user: int) -> float:
        start = time.perf_counter()
        connection.request("GET", f"/recommend?user_id={user}")
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}")
        return time.perf_counter() - start

    for user in users[:50]:
        via_gateway(int(user))
    direct_latencies, gateway_latencies = [], []
    for user in users.tolist():
        direct_latencies.append(one_request(client, user))
        gateway_latencies.append(via_gateway(user))
    direct_p50 = float(np.percentile(direct_latencies, 50) * 1000)
    gateway_p50 = float(np.percentile(gateway_latencies, 50) * 1000)
    return {
        "direct_grpc": summarize(direct_latencies, sum(direct_latencies)),
        "through_gateway": summarize(gateway_latencies, sum(gateway_latencies)),
        "gateway_added_p50_ms": round(gateway_p50 - direct_p50, 2),
    }


def server_rss_mb() -> float:
    total = 0
    for process in psutil.process_iter(["name", "memory_info"]):
        if process.info["name"] in SERVER_PROCESSES and process.info["memory_info"]:
            total += process.info["memory_info"].rss
    return round(total / 2**20, 1)


def triton_statistics(url: str) -> dict[str, float]:
    """Triton's own averages per request: queueing and the model's compute time."""
    stats = grpcclient.InferenceServerClient(url).get_inference_statistics(MODEL_NAME, as_json=True)
    inference = stats["model_stats"][0]["inference_stats"]
    count = max(1, int(inference["success"]["count"]))

    def avg_ms(name: str) -> float:
        return round(int(inference[name]["ns"]) / count / 1e6, 3)

    return {
        "requests": count,
        "queue_ms": avg_ms("queue"),
        "compute_input_ms": avg_ms("compute_input"),
        "compute_infer_ms": avg_ms("compute_infer"),
        "compute_output_ms": avg_ms("compute_output"),
    }


def stages_in_process(
    repository: Path, users: npt.NDArray[np.int32], reader: str, batch: int = 1
) -> dict[str, float]:
    """Mean milliseconds per user of each stage, the graph run here with `reader` on passes of
    `batch` users (what one execute() of the batched model answers at once)."""
    os.environ["RECSYS_FEATURE_READER"] = reader
    from loadtests.in_process import load_exported, recommend, timed_stages

    executor = load_exported(repository)
    for user in users[:20]:
        recommend(executor, [int(user)])
    passes = [users[start : start + batch] for start in range(0, len(users), batch)]
    with timed_stages(executor) as seconds:
        start = time.perf_counter()
        for chunk in passes:
            recommend(executor, [int(user) for user in chunk])
        total = time.perf_counter() - start
    per_stage = {name: round(sec / len(users) * 1000, 3) for name, sec in seconds.items()}
    return {**per_stage, "whole_graph_ms_per_user": round(total / len(users) * 1000, 3)}


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--url", default=os.environ.get("TRITON_GRPC_URL", "127.0.0.1:8001"))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--gateway-url", help="also measure the HTTP gateway's added latency")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    global BATCHED
    users = known_users(args.build, args.requests)
    batching = served_batching(args.url)
    BATCHED = batching["max_batch_size"] > 0
    report: dict[str, Any] = {
        "machine": machine("tritonclient"),
        "url": args.url,
        "served": batching,
    }
    report["load_average_before"] = load_average()
    report["sequential"] = sequential(args.url, users)
    report["concurrent"] = concurrent(args.url, users, args.concurrency, args.duration)
    report["load_average_after"] = load_average()
    if args.gateway_url:
        report["gateway"] = gateway_overhead(args.url, args.gateway_url, users)
    report["server_rss_mb"] = server_rss_mb()
    report["triton_statistics"] = triton_statistics(args.url)
    sample = users[: min(500, len(users))]
    try:
        report["stages_in_process_ms"] = {
            f"{reader}, {batch} user(s) per pass": stages_in_process(
                args.model_repository, sample, reader, batch
            )
            for reader, batch in (("redis", 1), ("redis", args.concurrency), ("feast", 1))
        }
    except Exception as exc:  # e.g. a repository exported by older code: keep the rest
        report["stages_in_process_ms"] = {"error": f"{type(exc).__name__}: {exc}"}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
