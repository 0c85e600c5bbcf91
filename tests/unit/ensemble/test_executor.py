"""Executor and OutageLog: stages run in order, bad requests and outages classified, logged once."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from services.ensemble.contract import INPUT, OUTPUTS
from services.ensemble.executor import BadRequest, Executor, OutageLog
from services.ensemble.redis_store import BuildNotOnline, OnlineStoreUnavailable
from services.ensemble.stages import Columns, Stage
from tests.conftest import REPO_ROOT


class Doubler(Stage):
    """A stand-in stage of our own: writes every output from the input."""

    def __init__(self) -> None:
        super().__init__(reads=(INPUT,), writes={})

    def run(self, columns: Columns) -> Columns:
        users = columns[INPUT]
        ids, scores, fallback = OUTPUTS
        return {ids: users[:, None] * 2, scores: users[:, None] * 0.5, fallback: users < 0}


class Failing(Stage):
    def __init__(self, error: Exception) -> None:
        super().__init__(reads=(INPUT,), writes={})
        self.error = error

    def run(self, columns: Columns) -> Columns:
        raise self.error


def test_executor_runs_the_stages_and_returns_the_contract_outputs() -> None:
    out = Executor([Doubler()]).answer(np.array([3, -1]))
    assert list(out) == list(OUTPUTS)
    assert out["ordered_ids"].tolist() == [[6], [-2]]
    assert out["fallback"].tolist() == [False, True]


def test_an_empty_request_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="at least one user id"):
        Executor([Doubler()]).answer(np.zeros(0, dtype=np.int32))


class Recording(Doubler):
    """Doubler that records the users of every pass."""

    def __init__(self) -> None:
        super().__init__()
        self.passes: list[list[int]] = []

    def run(self, columns: Columns) -> Columns:
        self.passes.append(columns[INPUT].tolist())
        return super().run(columns)


def test_a_batch_is_answered_in_one_pass_and_split_per_request() -> None:
    stage = Recording()
    results = Executor([stage]).answer_batch(
        [np.array([[1], [2]], dtype=np.int32), np.array([[-3]], dtype=np.int32), [5]]
    )
    assert stage.passes == [[1, 2, -3, 5]]
    assert [r["ordered_ids"].tolist() for r in results] == [[[2], [4]], [[-6]], [[10]]]  # type: ignore[index]
    assert [r["fallback"].tolist() for r in results] == [[False, False], [True], [False]]  # type: ignore[index]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((0, 1), dtype=np.int32), "at least one user id"),
        (None, "must carry the input"),
        (np.array([[1, 2]], dtype=np.int32), "shape"),
        (np.array([[1.5]]), "INT32"),
        (np.array([2**40]), "outside INT32"),
    ],
)
def test_an_invalid_request_gets_its_own_error_and_never_fails_the_others(
    bad: object, message: str
) -> None:
    stage = Recording()
    results = Executor([stage]).answer_batch([np.array([[7]]), bad, np.array([[8]])])
    assert isinstance(results[1], BadRequest) and message in str(results[1])
    assert [results[0]["ordered_ids"].tolist(), results[2]["ordered_ids"].tolist()] == [  # type: ignore[index]
        [[14]],
        [[16]],
    ]
    assert stage.passes == [[7, 8]]


def test_an_outage_fails_every_valid_request_of_the_batch() -> None:
    outage = OnlineStoreUnavailable("online store unavailable (ConnectionError)")
    results = Executor([Failing(outage)]).answer_batch([np.array([1]), np.zeros(0), [2]])
    assert results[0] is outage and results[2] is outage
    assert isinstance(results[1], BadRequest)


class BreaksOn(Doubler):
    """Fails any pass that holds `user`."""

    def __init__(self, user: int) -> None:
        super().__init__()
        self.user = user

    def run(self, columns: Columns) -> Columns:
        if self.user in columns[INPUT].tolist():
            raise KeyError(self.user)
        return super().run(columns)


def test_a_request_that_breaks_the_pass_fails_alone() -> None:
    results = Executor([BreaksOn(13)]).answer_batch([np.array([1]), np.array([13]), [2]])
    assert isinstance(results[1], KeyError)
    assert results[0]["ordered_ids"].tolist() == [[2]]  # type: ignore[index]
    assert results[2]["ordered_ids"].tolist() == [[4]]  # type: ignore[index]


def test_outage_is_logged_once_when_it_starts_and_once_when_it_ends() -> None:
    lines: list[str] = []
    clock = iter([10.0, 12.5])
    outages = OutageLog(lines.append, clock=lambda: next(clock))
    outages.succeeded()
    for _ in range(1000):
        outages.failed(OnlineStoreUnavailable("online store unavailable (ConnectionError)"))
    outages.succeeded()
    outages.succeeded()
    assert len(lines) == 2
    assert lines[0].startswith("online store unavailable (ConnectionError)")
    assert lines[1] == "online store available again after 2.5 s (1000 requests failed)"


def test_a_new_reason_during_an_outage_gets_its_own_line() -> None:
    lines: list[str] = []
    outages = OutageLog(lines.append)
    outages.failed(OnlineStoreUnavailable("online store unavailable (TimeoutError)"))
    outages.failed(OnlineStoreUnavailable("online store unavailable (ConnectionError)"))
    outages.failed(BuildNotOnline("b1", None))
    outages.failed(BuildNotOnline("b1", None))
    assert len(lines) == 2
    assert "online store does not hold build b1 (it holds no build)" in lines[1]


def test_executor_propagates_outages_for_the_model_to_map() -> None:
    with pytest.raises(BuildNotOnline, match="does not hold build b2"):
        Executor([Failing(BuildNotOnline("b2", "b1"))]).answer(np.array([1]))


def test_the_served_code_does_not_import_the_export() -> None:
    """The model imports the executor; the executor must not import back what exports it."""
    probe = (
        "import sys, services.ensemble.executor, services.ensemble.settings;"
        "print(sorted(m for m in sys.modules if m.startswith(('services.ensemble.graph',"
        "'services.ensemble.repository', 'training', 'loadtests'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
