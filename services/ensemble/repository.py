"""Export of the serving graph as a self-contained Triton model repository.

    <repository>/executor_model/
        config.pbtxt           model_template/config.pbtxt, with instances and build_id filled in
        1/model.py             model_template/model.py, copied as is
        1/ensemble/            the pickled graph and its artifacts (merlin-systems' export)
        1/services/ensemble/   this package's code (Triton puts 1/ on the model's sys.path)

Nothing in it names a path of the build machine, so it serves from anywhere.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from merlin.systems.dag import Ensemble

from services.ensemble.contract import BUILD_ID_PARAMETER, MODEL_NAME

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "model_template"
VERSION = "1"


def export(
    ensemble: Ensemble,
    repository: Path,
    build_id: str,
    instances: int = 1,
    batching: Batching | None = None,
) -> Path:
    """Write the executor model into `repository`; returns its folder."""
    model_dir = repository / MODEL_NAME
    version_dir = model_dir / VERSION
    with tempfile.TemporaryDirectory() as scratch:
        # merlin-systems writes the pickled graph and calls each stage's save_artifacts
        ensemble.export(scratch, name=MODEL_NAME)
        shutil.rmtree(model_dir, ignore_errors=True)
        version_dir.mkdir(parents=True)
        shutil.move(str(Path(scratch) / MODEL_NAME / VERSION / "ensemble"), version_dir)
    shutil.copy2(TEMPLATE_DIR / "model.py", version_dir / "model.py")
    shutil.copytree(
        PACKAGE_DIR,
        version_dir / "services" / "ensemble",
        ignore=shutil.ignore_patterns("__pycache__", TEMPLATE_DIR.name),
    )
    (version_dir / "services" / "__init__.py").write_text("")
    (model_dir / "config.pbtxt").write_text(model_config(build_id, instances, batching))
    return model_dir


@dataclass(frozen=True)
class Batching:
    """Triton's dynamic batching of the executor model."""

    max_batch_size: int = 64
    """Most users in one execute() (and in one request)."""
    delay_us: int = 200
    """Longest a request waits in the queue for others to join its batch."""


def model_config(build_id: str, instances: int, batching: Batching | None = None) -> str:
    """The template's config.pbtxt with `instances` CPU instances (one process each), the
    dynamic batcher's limits and the build_id parameter."""
    batching = batching or Batching()
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    template = (TEMPLATE_DIR / "config.pbtxt").read_text()
    config = text_format.Parse(template, model_config_pb2.ModelConfig())
    config.instance_group[0].count = instances
    config.max_batch_size = batching.max_batch_size
    config.dynamic_batching.max_queue_delay_microseconds = batching.delay_us
    config.parameters[BUILD_ID_PARAMETER].string_value = build_id
    return str(text_format.MessageToString(config))
