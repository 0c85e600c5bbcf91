"""Export of the serving graph as a self-contained Triton model repository.

    <repository>/executor_model/
        config.pbtxt           model_template/config.pbtxt, with instances, batching and the
                               answer size k (ordered_ids' and ordered_scores' dims) filled in
        <v>/model.py           model_template/model.py, copied as is
        <v>/build.json         the build this version serves: {"build_id", "namespace"}
        <v>/ensemble/          the pickled graph and its artifacts (merlin-systems' export),
                               and stages.pkl: the stages the model process runs
        <v>/services/ensemble/ this package's code (Triton puts <v>/ on the model's sys.path)
    <repository>/standby_model/
        config.pbtxt           the executor's, one instance, `follows: executor_model`
        1/model.py, 1/services/ensemble/   the same code; no graph of its own: it serves the
                               standby stages (<v>/ensemble/standby.pkl) of the executor's
                               served version (services/ensemble/standby.py)

<v> is 1 for a fresh export; the rollout (deploy/rollout) adds the next version beside the
served one. The config is the same for every version (Triton shares one config among a model's
versions, and a changed config reloads all of them), so it names no build.
Nothing in it names a path of the build machine, so it serves from anywhere. The gateway reads
k from it (Triton's model config): its GATEWAY_MAX_K must agree.
"""

from __future__ import annotations

import compileall
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from merlin.systems.dag import Ensemble

from services.ensemble.contract import (
    BUILD_FILE,
    BUILD_ID_PARAMETER,
    FOLLOWS_PARAMETER,
    MODEL_NAME,
    OUTPUTS,
    STANDBY_MODEL_NAME,
    build_namespace,
)
from services.ensemble.operator import stages_of, write_stages
from services.ensemble.stages.base import STANDBY_FILE, Stage

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "model_template"
VERSION = "1"


def export(
    ensemble: Ensemble,
    repository: Path,
    build_id: str,
    instances: int = 1,
    batching: Batching | None = None,
    version: int = 1,
    standby: Sequence[Stage] | None = None,
) -> Path:
    """Write the executor model (its version `version` only) into `repository`, with the
    `standby` stages beside its own; returns its folder."""
    model_dir = repository / MODEL_NAME
    version_dir = model_dir / str(version)
    stages = stages_of(ensemble)  # before the export, which rewrites the graph in place
    with tempfile.TemporaryDirectory() as scratch:
        # merlin-systems writes the pickled graph and calls each stage's save_artifacts
        ensemble.export(scratch, name=MODEL_NAME)
        shutil.rmtree(model_dir, ignore_errors=True)
        version_dir.mkdir(parents=True)
        shutil.move(str(Path(scratch) / MODEL_NAME / VERSION / "ensemble"), version_dir)
    write_stages(stages, version_dir / "ensemble")
    if standby is not None:
        for stage in standby:  # the artifacts the executor's stages did not copy
            stage.save_artifacts(version_dir / "ensemble")
        write_stages(standby, version_dir / "ensemble", STANDBY_FILE)
    build = {"build_id": build_id, "namespace": build_namespace(build_id)}
    (version_dir / BUILD_FILE).write_text(json.dumps(build, indent=2) + "\n")
    copy_code(version_dir)
    config = model_config(instances, batching, answer_size(ensemble))
    (model_dir / "config.pbtxt").write_text(config)
    return model_dir


def export_standby(repository: Path, executor_dir: Path) -> Path:
    """Write the standby model into `repository` (one version, one instance): it follows the
    served version of the executor model at `executor_dir` (services/ensemble/standby.py),
    with the executor's config otherwise. Returns its folder."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    model_dir = repository / STANDBY_MODEL_NAME
    shutil.rmtree(model_dir, ignore_errors=True)
    version_dir = model_dir / VERSION
    version_dir.mkdir(parents=True)
    copy_code(version_dir)
    text = (executor_dir / "config.pbtxt").read_text()
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    config.name = STANDBY_MODEL_NAME
    config.instance_group[0].count = 1
    config.parameters[FOLLOWS_PARAMETER].string_value = executor_dir.name
    del config.parameters[BUILD_ID_PARAMETER]
    (model_dir / "config.pbtxt").write_text(str(text_format.MessageToString(config)))
    return model_dir


def copy_code(version_dir: Path) -> None:
    """model.py and this package into a version folder (Triton puts it on sys.path)."""
    shutil.copy2(TEMPLATE_DIR / "model.py", version_dir / "model.py")
    shutil.copytree(
        PACKAGE_DIR,
        version_dir / "services" / "ensemble",
        ignore=shutil.ignore_patterns("__pycache__", TEMPLATE_DIR.name),
    )
    (version_dir / "services" / "__init__.py").write_text("")
    # compiled now: a model process that wrote __pycache__ into the version folder would change
    # its modification time, and Triton would reload that version when a rollout loads another
    compileall.compile_dir(str(version_dir), quiet=1)


def answer_size(ensemble: Ensemble) -> int | None:
    """The graph's k: the fixed width of its ordered_ids output (None if it has none)."""
    dims = ensemble.graph.output_schema[OUTPUTS[0]].shape.dims
    if dims is None or len(dims) != 2 or dims[1].min != dims[1].max:
        return None
    return int(dims[1].max)


@dataclass(frozen=True)
class Batching:
    """Triton's dynamic batching of the executor model."""

    max_batch_size: int = 64
    """Most users in one execute() (and in one request)."""
    delay_us: int = 200
    """Longest a request waits in the queue for others to join its batch."""


def model_config(
    instances: int, batching: Batching | None = None, answer_size: int | None = None
) -> str:
    """The template's config.pbtxt with `instances` CPU instances (one process each), the
    dynamic batcher's limits and, when given, the answer size k as the dims of ordered_ids and
    ordered_scores ([k] instead of [-1]: what the gateway reads through Triton's model config)
    (its build_id parameter stays empty: see the module's doc)."""
    batching = batching or Batching()
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    template = (TEMPLATE_DIR / "config.pbtxt").read_text()
    config = text_format.Parse(template, model_config_pb2.ModelConfig())
    config.instance_group[0].count = instances
    config.max_batch_size = batching.max_batch_size
    config.dynamic_batching.max_queue_delay_microseconds = batching.delay_us
    if answer_size is not None:
        for output in config.output:
            if output.name in OUTPUTS[:2]:
                output.dims[:] = [answer_size]
    return str(text_format.MessageToString(config))
