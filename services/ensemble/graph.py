"""The four-stage serving graph over a build directory, and its export as a Triton repository.

user_id -> user features (online store) -> query tower (TF) -> the user's past items (Redis)
        -> top-K candidates (faiss) -> filter (past items, deny-list) -> item features
        -> unroll -> DLRM (TF) -> order by score (category cap) -> top k
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from merlin.schema import ColumnSchema, Schema
from merlin.systems.dag import Ensemble

from services.ensemble import ops
from services.ensemble.contract import INPUT, ITEM_FEATURES, MODEL_NAME, OUTPUTS, USER_FEATURES
from services.ensemble.rules import Rules

REQUEST_SCHEMA = Schema([ColumnSchema(INPUT, dtype=np.int32, dims=(None,))])
PACKAGE_DIR = Path(__file__).resolve().parent


def build_graph(
    build_dir: Path,
    candidates: int = 100,
    topk: int = 10,
    temperature: float = 0.0,
    rules: Rules | None = None,
) -> Ensemble:
    rules = rules or Rules()
    manifest = json.loads((build_dir / "manifest.json").read_text())
    artifacts = manifest["artifacts"]
    candidates = min(candidates, manifest["items"])
    topk = min(topk, candidates)

    def path(name: str) -> Path:
        return build_dir / str(artifacts[name])

    user_columns = ("user_id_encoded", *USER_FEATURES)
    ranking_inputs = {
        "user_id": "unrolled_user_id_encoded",
        **{name: f"unrolled_{name}" for name in USER_FEATURES},
        "item_id": "item_id_encoded",
    }
    graph = (
        ["user_id"]
        >> ops.FetchFeatures(
            path("feature_repo"), "user_features", "user_id", user_columns, "user_found"
        )
        >> ops.PredictInProcess(
            path("query_tower"), "query_tower", "query_embedding", {"user_id": "user_id_encoded"}
        )
        >> ops.FetchInteractions()
        >> ops.RetrieveCandidates(path("faiss_index"), candidates, rules)
        >> ops.FilterCandidates(candidates, rules)
        >> ops.FetchFeatures(
            path("feature_repo"),
            "item_features",
            "candidate_ids",
            ("item_id_encoded", *ITEM_FEATURES),
            "item_found",
            copies_repo=False,
        )
        >> ops.UnrollUserFeatures(user_columns)
        >> ops.PredictInProcess(
            path("ranking_model"), "ranking_model", "click_score", ranking_inputs
        )
        >> ops.OrderByScore(path("popular_items"), topk, temperature, rules)
    )
    return Ensemble(graph[list(OUTPUTS)], REQUEST_SCHEMA)


def export(ensemble: Ensemble, repository: Path, instances: int = 2) -> Path:
    """Write a self-contained Triton model repository; returns the executor model's folder.

    merlin-systems writes the pickled graph, its artifacts and config.pbtxt; we replace its
    model.py with ours (all stages in-process) and ship this package's code beside it, so the
    repository serves from any path, in any Triton with the python backend and Merlin installed.
    """
    ensemble.export(str(repository), name=MODEL_NAME)
    model_dir = repository / MODEL_NAME
    _set_instances(model_dir / "config.pbtxt", instances)
    version_dir = model_dir / "1"
    code_dir = version_dir / "code" / "services"
    shutil.rmtree(code_dir, ignore_errors=True)
    shutil.copytree(
        PACKAGE_DIR, code_dir / "ensemble", ignore=shutil.ignore_patterns("__pycache__")
    )
    (code_dir / "__init__.py").write_text("")
    (version_dir / "model.py").write_text(MODEL_PY)
    return model_dir


MODEL_PY = '''"""Entry point of the executor model, written by services.ensemble.graph.export."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "code"))

from services.ensemble.triton_model import TritonPythonModel  # noqa: E402, F401
'''


def _set_instances(config_path: Path, instances: int) -> None:
    """CPU instances, one process each, so every core works under concurrent load."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    config = text_format.Parse(config_path.read_text(), model_config_pb2.ModelConfig())
    del config.instance_group[:]
    config.instance_group.add(kind=model_config_pb2.ModelInstanceGroup.KIND_CPU, count=instances)
    config_path.write_text(text_format.MessageToString(config))


def load_exported(repository: Path, name: str = MODEL_NAME, version: str = "1") -> Ensemble:
    """The exported graph with its artifacts loaded, as the executor model does."""
    from merlin.dag import postorder_iter_nodes

    ensemble_dir = repository / name / str(version) / "ensemble"
    ensemble = Ensemble.load(str(ensemble_dir))
    for node in postorder_iter_nodes(ensemble.graph.output_node, flatten_subgraphs=True):
        node.op.load_artifacts(str(ensemble_dir))
    return ensemble


def recommend(ensemble: Ensemble, user_ids: list[int]) -> dict[str, Any]:
    """Run the graph in this process (no Triton)."""
    from merlin.table import TensorTable

    request = TensorTable({"user_id": np.asarray(user_ids, dtype=np.int32)})
    result = ensemble.transform(request)
    return {name: np.asarray(result[name].values) for name in OUTPUTS}
