"""The exported model folder: the template's config with instances and the build id."""

from __future__ import annotations

import ast

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from services.ensemble.contract import (
    BUILD_ID_PARAMETER,
    EXPLAIN_INPUT,
    EXPLAIN_OUTPUT,
    INPUT,
    MODEL_NAME,
    OUTPUTS,
)
from services.ensemble.repository import TEMPLATE_DIR, Batching, model_config


def test_config_carries_the_instances_and_no_build() -> None:
    """One config serves every loaded version (a changed one reloads them all): no build in it."""
    text = model_config(instances=3)
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.name == MODEL_NAME and config.backend == "python"
    assert config.parameters[BUILD_ID_PARAMETER].string_value == ""
    assert [group.count for group in config.instance_group] == [3]
    assert [(i.name, i.optional) for i in config.input] == [(INPUT, False), (EXPLAIN_INPUT, True)]
    assert tuple(o.name for o in config.output) == (*OUTPUTS, EXPLAIN_OUTPUT)


def test_config_batches_users_dynamically() -> None:
    """Batch dimension = users: user_id [n, 1] in, [n, k], [n, k], [n, 1] out."""
    text = model_config(instances=1, batching=Batching(max_batch_size=32, delay_us=150))
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.max_batch_size == 32
    assert config.dynamic_batching.max_queue_delay_microseconds == 150
    assert [list(i.dims) for i in config.input] == [[1], [1]]
    assert not any(i.HasField("reshape") for i in config.input)  # [0, 1] + reshape crashed 2.51
    assert {o.name: list(o.dims) for o in config.output} == {
        "ordered_ids": [-1],
        "ordered_scores": [-1],
        "fallback": [1],
        "explanation": [1],
    }


def test_zero_queue_delay_keeps_dynamic_batching_on() -> None:
    """The default delay 0 runs a lone request at once; requests that queue during a pass
    must still be batched, so the block stays in the config."""
    text = model_config(instances=1, batching=Batching(max_batch_size=64, delay_us=0))
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.HasField("dynamic_batching")
    assert config.dynamic_batching.max_queue_delay_microseconds == 0


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
        "services.ensemble.standby",
    }


def test_config_names_the_answer_size_the_gateway_reads() -> None:
    """With the graph's k, ordered_ids and ordered_scores are [n, k] in the config: what the
    gateway reads through Triton's model config (GATEWAY_MAX_K must agree)."""
    text = model_config(instances=1, answer_size=7)
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert {o.name: list(o.dims) for o in config.output} == {
        "ordered_ids": [7],
        "ordered_scores": [7],
        "fallback": [1],
        "explanation": [1],
    }


def test_the_answer_size_is_the_graphs_k() -> None:
    import numpy as np
    from merlin.schema import ColumnSchema, Schema
    from merlin.systems.dag import Ensemble

    from services.ensemble.operator import StageOperator
    from services.ensemble.repository import answer_size
    from services.ensemble.stages import OrderByScore, OrderInputs

    inputs = OrderInputs("candidates", "scores", "found", "categories", "user_found", "past")
    columns = [INPUT, *inputs.__dict__.values()]
    graph = columns >> StageOperator(OrderByScore(None, 5, inputs))
    schema = Schema([ColumnSchema(name, dtype=np.int32, dims=(None,)) for name in columns])
    assert answer_size(Ensemble(graph[list(OUTPUTS)], schema)) == 5
