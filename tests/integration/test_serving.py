"""The four-stage graph on a real Triton server (gRPC), against real Redis and the session build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from loadtests.in_process import load_exported, recommend
from services.ensemble.contract import BUILD_ID_PARAMETER, INPUT, MODEL_NAME
from services.ensemble.executor import Executor
from services.ensemble.stages.base import STAGES_FILE, STANDBY_FILE
from training.build.artifacts import ARTIFACTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(triton) -> grpcclient.InferenceServerClient:  # type: ignore[no-untyped-def]
    return grpcclient.InferenceServerClient(triton.grpc_url)


@pytest.fixture(scope="module")
def users(build_dir: Path) -> np.ndarray:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "user_features.parquet"
    )
    return table["user_id"].to_numpy()


@pytest.fixture(scope="module")
def catalogue(build_dir: Path) -> set[int]:
    table = pd.read_parquet(
        build_dir / ARTIFACTS["feature_repo"] / "data" / "item_features.parquet"
    )
    return set(table["item_id"].tolist())


@pytest.fixture(scope="module")
def in_process(model_repository: Path, redis_url: str, monkeypatch_module):  # type: ignore[no-untyped-def]
    monkeypatch_module.setenv("REDIS_URL", redis_url)
    return load_exported(model_repository)


@pytest.fixture(scope="module")
def monkeypatch_module():  # type: ignore[no-untyped-def]
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def infer(client: grpcclient.InferenceServerClient, user_ids: list[int]) -> dict[str, np.ndarray]:
    """One request of user_id INT32 [n, 1]; fallback [n, 1] flattened to [n] for the asserts."""
    request = grpcclient.InferInput(INPUT, [len(user_ids), 1], "INT32")
    request.set_data_from_numpy(np.asarray(user_ids, dtype=np.int32).reshape(-1, 1))
    result = client.infer(MODEL_NAME, [request])
    answer = {name: result.as_numpy(name) for name in ("ordered_ids", "ordered_scores")}
    return {**answer, "fallback": result.as_numpy("fallback").reshape(-1)}


def test_known_users_get_ranked_catalogue_items_identical_to_in_process(
    client, users: np.ndarray, catalogue: set[int], in_process
) -> None:  # type: ignore[no-untyped-def]
    for user in users[[0, 7, 101, 333, -1]].tolist():
        served = infer(client, [user])
        ids, scores = served["ordered_ids"][0], served["ordered_scores"][0]
        assert len(ids) == 10 and len(set(ids.tolist())) == 10
        assert set(ids.tolist()) <= catalogue
        assert (np.diff(scores) <= 0).all()
        assert not served["fallback"][0]
        local = recommend(in_process, [user])
        assert ids.tolist() == local["ordered_ids"][0].tolist()
        np.testing.assert_allclose(scores, local["ordered_scores"][0], rtol=1e-6)


def test_order_follows_the_final_score(client, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """Scores are the build's final scores (a sum of parts standardized over the user's
    candidates): finite, best first, and answers differ between users."""
    first, second = infer(client, [int(users[0])]), infer(client, [int(users[1])])
    for served in (first, second):
        scores = served["ordered_scores"][0]
        assert np.isfinite(scores).all() and (np.diff(scores) <= 0).all()
        assert scores[0] > 0  # the best candidate is above its user's mean
    assert first["ordered_ids"].tolist() != second["ordered_ids"].tolist()


def test_every_known_user_is_answered(client, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    errors, fallbacks = 0, 0
    for user in users.tolist():
        try:
            served = infer(client, [user])
        except InferenceServerException:
            errors += 1
            continue
        fallbacks += int(served["fallback"][0])
        assert len(set(served["ordered_ids"][0].tolist())) == 10
    assert (errors, fallbacks) == (0, 0)


def test_unknown_and_negative_users_get_popular_items(
    client, users: np.ndarray, build_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    popular = pd.read_parquet(build_dir / ARTIFACTS["popular_items"])["item_id"].head(10).tolist()
    for user in (int(users.max()) + 1, -7, 0, 2**31 - 1):
        served = infer(client, [user])
        assert served["fallback"].tolist() == [True]
        assert served["ordered_ids"][0].tolist() == popular


def test_several_users_in_one_request_are_each_answered(client, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    known = users[[3, 4]].tolist()
    served = infer(client, [known[0], -1, known[1]])
    assert served["ordered_ids"].shape == (3, 10)
    assert served["fallback"].tolist() == [False, True, False]
    assert served["ordered_ids"][0].tolist() == infer(client, [known[0]])["ordered_ids"][0].tolist()
    assert served["ordered_ids"][2].tolist() == infer(client, [known[1]])["ordered_ids"][0].tolist()


def test_empty_request_is_an_error_and_the_model_keeps_serving(client, users: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceServerException) as caught:
        infer(client, [])  # [0, 1]: Triton itself refuses an empty batch
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert client.is_model_ready(MODEL_NAME)
    assert not infer(client, [int(users[0])])["fallback"][0]


def test_exported_config_matches_the_contract(model_repository: Path) -> None:
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    text = (model_repository / MODEL_NAME / "config.pbtxt").read_text()
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.backend == "python"
    assert [(i.name, model_config_pb2.DataType.Name(i.data_type)) for i in config.input] == [
        ("user_id", "TYPE_INT32"),
        ("explain", "TYPE_BOOL"),  # optional: only explain requests carry it
    ]
    outputs = {o.name: model_config_pb2.DataType.Name(o.data_type) for o in config.output}
    assert outputs == {
        "ordered_ids": "TYPE_INT32",
        "ordered_scores": "TYPE_FP32",
        "fallback": "TYPE_BOOL",
        "explanation": "TYPE_STRING",
    }
    assert [list(i.dims) for i in config.input] == [[1], [1]]  # batch dimension = users
    answer_dims = {o.name: list(o.dims) for o in config.output if o.name.startswith("ordered_")}
    assert answer_dims == {"ordered_ids": [10], "ordered_scores": [10]}  # the gateway reads k here
    assert config.max_batch_size == 64 and config.HasField("dynamic_batching")
    assert sum(group.count for group in config.instance_group) == 1


def test_exported_repository_does_not_depend_on_the_build(
    model_repository: Path, build_dir: Path
) -> None:
    needle = str(build_dir).encode()
    offenders = [
        path
        for path in model_repository.rglob("*")
        if path.is_file() and needle in path.read_bytes()
    ]
    assert offenders == []


def test_served_version_names_its_build_and_redis_holds_it(
    client, build_dir: Path, redis_url: str, model_repository: Path
) -> None:  # type: ignore[no-untyped-def]
    """The version folder's build.json names the build whose namespace it reads; the config,
    shared by every loaded version, names none (the gateway then checks only the marker)."""
    import json

    import redis

    from services.ensemble.contract import BUILD_FILE, ONLINE_BUILD_KEY, build_key
    from training.build import manifest

    config = client.get_model_config(MODEL_NAME, as_json=True)["config"]
    assert config["parameters"][BUILD_ID_PARAMETER].get("string_value", "") == ""
    built = manifest.build_id(build_dir)
    version = json.loads((model_repository / MODEL_NAME / "1" / BUILD_FILE).read_text())
    assert version["build_id"] == built
    store = redis.Redis.from_url(redis_url)
    assert store.get(build_key(built)).decode() == built
    assert store.get(ONLINE_BUILD_KEY).decode() == built


MODEL_PROCESS_CHECK = """
import json, sys
from pathlib import Path
from services.ensemble.executor import Executor
from services.ensemble.stages.base import STAGES_FILE, STANDBY_FILE
executor = Executor.from_version_dir(Path(sys.argv[1]), sys.argv[2])
answer = executor.answer([int(user) for user in sys.argv[3:]])
print(json.dumps({
    "ids": answer["ordered_ids"].tolist(),
    "fallback": answer["fallback"].reshape(-1).tolist(),
    "modules": sorted({name.split(".")[0] for name in sys.modules}),
}))
"""


def model_process(version_dir: Path, redis_url: str, stages: str, users: list[int]) -> Any:
    """What a fresh model process (Triton's layout: the version folder holds the package)
    loads from `stages` and answers for `users`, and the top-level modules it imported."""
    result = subprocess.run(
        [sys.executable, "-c", MODEL_PROCESS_CHECK, str(version_dir), stages, *map(str, users)],
        cwd=version_dir,
        env={**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(version_dir)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_model_process_answers_without_importing_merlin(
    model_repository: Path, redis_url: str, users: np.ndarray, in_process: Executor
) -> None:
    """The exported stages unpickle and run without merlin, NVTabular (about 150 MB of every
    model process) and Feast (about 110 MB: the feature layout is exported beside the feature
    repo), and the answer is the one the in-process replay gives."""
    version_dir = model_repository / MODEL_NAME / "1"
    user = int(users[0])
    report = model_process(version_dir, redis_url, STAGES_FILE, [user])
    assert {"tensorflow", "faiss", "redis"} <= set(report["modules"])
    assert not {"merlin", "nvtabular", "feast"} & set(report["modules"])
    expected = recommend(in_process, [user])["ordered_ids"]
    assert report["ids"] == expected.tolist()


def test_the_standby_stages_answer_known_users_personally_without_tensorflow(
    model_repository: Path, redis_url: str, users: np.ndarray, in_process: Executor
) -> None:
    """The standby model's graph: no TensorFlow or faiss in its process; known users get k
    items of their own (not the popular fallback), ordered without the tower and the DLRM."""
    version_dir = model_repository / MODEL_NAME / "1"
    known = [int(user) for user in users[:20]]
    report = model_process(version_dir, redis_url, STANDBY_FILE, known)
    assert not {"tensorflow", "faiss", "merlin", "feast"} & set(report["modules"])
    k = len(recommend(in_process, known[:1])["ordered_ids"][0])
    assert all(len(ids) == k and len(set(ids)) == k for ids in report["ids"])
    assert not any(report["fallback"])
    assert len({tuple(ids) for ids in report["ids"]}) > 1  # personal: not one list for all


def test_the_exported_feature_layout_is_the_registrys(model_repository: Path) -> None:
    """What the Redis reader reads instead of Feast's registry says what the registry says."""
    from services.ensemble.online_store import open_feature_store, read_layout, view_spec
    from services.ensemble.settings import DEFAULT_REDIS_URL

    repo = model_repository / MODEL_NAME / "1" / "ensemble" / "feature_repo"
    store = open_feature_store(repo, DEFAULT_REDIS_URL)
    for name in ("user_features", "item_features"):
        layout = read_layout(repo, name)
        assert layout is not None, name
        project, version, spec = layout
        assert spec == view_spec(store, name)
        assert (project, version) == (store.project, store.config.entity_key_serialization_version)
