"""summarize_log: the cause of a failed start on one line, CPU noise never taken for it."""

from __future__ import annotations

from pathlib import Path

from deploy.triton.logs import summarize_log


def test_failed_load_names_the_models_before_the_generic_error(tmp_path: Path) -> None:
    log = tmp_path / "tritonserver.log"
    log.write_text(
        'E1127 21:14:53.9 1 server.cc:241] "CudaDriverHelper has not been initialized."\n'
        "E1127 21:14:54.1 1 model_lifecycle.cc:1] \"failed to load 'a' version 1: boom\\nTrace\"\n"
        'E1127 21:14:54.2 1 main.cc:1] "failed to load all models"\n'
    )
    assert summarize_log(log) == "failed to load 'a' version 1: boom; failed to load all models"


def test_an_empty_or_missing_log_says_so(tmp_path: Path) -> None:
    assert summarize_log(tmp_path / "missing.log") == "no output logged"
    (tmp_path / "empty.log").write_text("")
    assert summarize_log(tmp_path / "empty.log") == "no output logged"


def test_error_prefixed_lines_count(tmp_path: Path) -> None:
    log = tmp_path / "tritonserver.log"
    log.write_text("I1127 ok\nerror: creating server: Invalid argument - bad flag\n")
    assert summarize_log(log) == "creating server: Invalid argument - bad flag"
