"""The NVTabular fit and transform on a real dask.distributed cluster give the single-process
build's encoding, row for row."""

from __future__ import annotations

from pathlib import Path

import nvtabular as nvt
import pandas as pd
import pytest

from training.build import features
from training.build.distributed import DaskConfig, dask_client
from training.data import raw_data as data


def _encode(raw: data.RawData, out: Path, config: DaskConfig, partitions: int) -> pd.DataFrame:
    with dask_client(config) as client:
        workflow = features.build_workflow(out / "categories", client)
        encoded = features.fit_transform(workflow, raw.train, {"valid": raw.valid}, partitions)
        workflow.save(str(out / "workflow"))  # saved while the client is up, as the build does
    reloaded = nvt.Workflow.load(str(out / "workflow"))
    pd.testing.assert_frame_equal(features.encode(reloaded, raw.valid), encoded["valid"])
    return pd.concat([encoded["train"], encoded["valid"]], ignore_index=True)


def test_dask_cluster_encodes_like_one_process(tmp_path: Path) -> None:
    raw = data.generate("planted", rows=4_000, seed=3)
    alone = _encode(raw, tmp_path / "alone", DaskConfig(), partitions=1)
    on_cluster = _encode(raw, tmp_path / "cluster", DaskConfig(workers=2), partitions=4)

    assert len(alone) == len(raw.train) + len(raw.valid)
    assert alone["user_id"].nunique() > 10  # the encoding really encoded something
    pd.testing.assert_frame_equal(alone, on_cluster, check_dtype=True)


def test_dask_config_describes_itself() -> None:
    assert not DaskConfig().enabled
    assert DaskConfig(workers=2).describe() == "dask local cluster, 2 workers"
    assert DaskConfig(scheduler="tcp://127.0.0.1:8786").enabled


def test_unreachable_scheduler_fails_fast() -> None:
    with (
        pytest.raises(OSError),
        dask_client(DaskConfig(scheduler="tcp://127.0.0.1:9", connect_timeout_s=1.0)),
    ):
        pass
