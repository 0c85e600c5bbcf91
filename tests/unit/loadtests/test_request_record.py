"""loadtests/request_record.py: what the locustfile writes is what the summary reads."""

from __future__ import annotations

from pathlib import Path

from loadtests.request_record import Recorder, read_record


def test_the_record_reads_back_as_written(tmp_path: Path) -> None:
    recorder = Recorder()
    recorder.add(0.5, 3.25, 0, True, 2)
    recorder.add(1.5, 80.0, 1, False, 4)
    path = tmp_path / "requests.parquet"
    recorder.write(path, start_unix=1_700_000_000.25)

    record = read_record(path)
    assert record.seconds.tolist() == [0.5, 1.5]
    assert record.response_ms.tolist() == [3.25, 80.0]
    assert record.case.tolist() == ["known", "unknown"]
    assert record.ok.tolist() == [True, False]
    assert record.users.tolist() == [2, 4]
    assert record.start_unix == 1_700_000_000.25


def test_an_empty_run_writes_an_empty_record(tmp_path: Path) -> None:
    path = tmp_path / "requests.parquet"
    Recorder().write(path, start_unix=0.0)
    record = read_record(path)
    assert len(record.seconds) == 0 and len(record.case) == 0
