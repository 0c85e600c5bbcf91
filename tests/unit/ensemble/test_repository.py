"""The exported model folder: the template's config with instances and the build id."""

from __future__ import annotations

import ast

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from services.ensemble.contract import BUILD_ID_PARAMETER, INPUT, MODEL_NAME, OUTPUTS
from services.ensemble.repository import TEMPLATE_DIR, model_config


def test_config_carries_the_build_id_and_instances() -> None:
    text = model_config("2026-11-28T00:50:38+00:00", instances=3)
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.name == MODEL_NAME and config.backend == "python"
    assert config.parameters[BUILD_ID_PARAMETER].string_value == "2026-11-28T00:50:38+00:00"
    assert [group.count for group in config.instance_group] == [3]
    assert [i.name for i in config.input] == [INPUT]
    assert tuple(o.name for o in config.output) == OUTPUTS


def test_the_template_model_imports_only_the_served_modules() -> None:
    tree = ast.parse((TEMPLATE_DIR / "model.py").read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    ours = {name for name in imported if name.startswith("services")}
    assert ours <= {
        "services.ensemble.contract",
        "services.ensemble.executor",
        "services.ensemble.redis_store",
        "services.ensemble.settings",
    }
