"""Serving the exported graph in this process: load it, run its stages in order, watch outages.

The Triton model (model_template/model.py) is a thin layer over `Executor`: it hands it every
request of a dynamic batch, and turns `BadRequest` into INVALID_ARG, `OnlineStoreUnavailable`
into UNAVAILABLE (retryable) and anything else into INTERNAL. The stages run directly, not
through merlin.dag's executor, which logs a full traceback for every failing request.

`answer_batch` runs ONE pass of the stages over the users of all valid requests (one query-tower
call, one faiss search, one Redis pipeline per Redis stage, one DLRM call) and splits the outputs
back per request: an invalid request gets its own BadRequest and never fails the others.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.ensemble import online_items
from services.ensemble.contract import EXPLAIN_OUTPUT, INPUT, OUTPUTS
from services.ensemble.live_rules import LiveRules, attach
from services.ensemble.online_items import OnlineItems
from services.ensemble.redis_store import OnlineStoreUnavailable, connect
from services.ensemble.settings import EnsembleSettings
from services.ensemble.stages import Columns, FetchPastItems, Stage
from services.ensemble.stages.base import STAGES_FILE

THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


class BadRequest(ValueError):
    """The request itself is wrong (the client must change it)."""


def limit_threads(threads: int) -> None:
    """At most `threads` TensorFlow and OpenMP threads in this process (Triton runs one process
    per instance: the instances share the cores). Must run before TensorFlow or faiss is
    imported; the TensorFlow stages also set it in their sessions (stages/predict.py)."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def load_stages(ensemble_dir: Path, stages_file: str = STAGES_FILE) -> list[Stage]:
    """The exported graph's stages in execution order, their artifacts loaded (without
    importing merlin: see stages/base.py). `stages_file`: STAGES_FILE, or STANDBY_FILE for
    the standby's."""
    stages: list[Stage] = pickle.loads((ensemble_dir / stages_file).read_bytes())
    for stage in stages:
        stage.load_artifacts(str(ensemble_dir))
    return stages


class Executor:
    def __init__(
        self,
        stages: list[Stage],
        rules: LiveRules | None = None,
        online: OnlineItems | None = None,
    ) -> None:
        self.stages = stages
        self.rules = rules
        """The stages' business rules, refreshed from Redis once per pass (live_rules.py)."""
        self.online = online
        """The items added or retired at run time, followed once per pass (online_items.py)."""
        followers = tuple(f for f in (rules, online) if f is not None)
        self._uncarried = carry_followers(stages, followers)
        """The followers FetchPastItems' round trip does not carry: `_run` refreshes them."""

    @classmethod
    def from_version_dir(cls, version_dir: Path, stages_file: str = STAGES_FILE) -> Executor:
        stages = load_stages(version_dir / "ensemble", stages_file)
        client = connect(EnsembleSettings())
        rules = attach(stages, client)
        return cls(stages, rules, online_items.attach(stages, client, rules))

    def answer(self, user_ids: Any) -> Columns:
        """The contract's outputs for `user_ids` (one row per id)."""
        return self._run(checked_user_ids(user_ids))

    def answer_batch(self, requests: Sequence[Any]) -> list[Columns | Exception]:
        """One answer or error per request, from one pass over all the valid requests' users.

        Invalid requests get their BadRequest. An OnlineStoreUnavailable of the pass is every
        valid request's error (the store failed them all). Any other failure of the pass is
        retried request by request, so one request that breaks a stage fails alone.
        """
        results: list[Columns | Exception] = []
        valid: list[tuple[int, NDArray[np.int32]]] = []
        for position, request in enumerate(requests):
            try:
                valid.append((position, checked_user_ids(request)))
                results.append(BadRequest("not answered"))  # replaced below
            except BadRequest as exc:
                results.append(exc)
        if not valid:
            return results
        try:
            merged = self._run(np.concatenate([ids for _, ids in valid]))
        except OnlineStoreUnavailable as exc:
            for position, _ in valid:
                results[position] = exc
            return results
        except Exception:  # isolate the request that breaks the pass
            for position, ids in valid:
                results[position] = self._answer_alone(ids)
            return results
        ends = np.cumsum([len(ids) for _, ids in valid])
        for (position, ids), end in zip(valid, ends, strict=True):
            results[position] = {name: merged[name][end - len(ids) : end] for name in OUTPUTS}
        return results

    def explain(self, user_ids: Any) -> Columns:
        """The contract's outputs for `user_ids` plus EXPLAIN_OUTPUT: per user a JSON document
        of what each stage found (explain.py). A pass of its own, never batched with plain
        requests: the plain answers' path stays as it is."""
        from services.ensemble.explain import explain_pass

        for follower in (self.rules, self.online):  # what a plain pass would apply now
            if follower is not None:
                follower.refresh()
        outputs, documents = explain_pass(self.stages, checked_user_ids(user_ids))
        encoded = [json.dumps(document, allow_nan=False).encode() for document in documents]
        outputs[EXPLAIN_OUTPUT] = np.array(encoded, dtype=np.object_)
        return outputs

    def _answer_alone(self, user_ids: NDArray[np.int32]) -> Columns | Exception:
        try:
            return self._run(user_ids)
        except Exception as exc:  # the caller maps it to the request's error
            return exc

    def _run(self, user_ids: NDArray[np.int32]) -> Columns:
        for follower in self._uncarried:
            follower.refresh()
        columns: Columns = {INPUT: user_ids}
        for stage in self.stages:
            columns.update(stage.run(columns))
        return {name: columns[name] for name in OUTPUTS}


def carry_followers(stages: list[Stage], followers: tuple[Any, ...]) -> tuple[Any, ...]:
    """Give each follower's per-pass counter read to FetchPastItems' pipeline (saving a Redis
    round trip) when it runs before every stage that uses the follower; the followers not
    given (the pass refreshes them itself)."""
    carrier = next((stage for stage in stages if isinstance(stage, FetchPastItems)), None)
    if carrier is None:
        return followers
    at = stages.index(carrier)
    carried = tuple(f for f in followers if all(i > at for i in users_of(stages, f)))
    carrier.followers = carried
    return tuple(f for f in followers if f not in carried)


def users_of(stages: list[Stage], follower: Any) -> list[int]:
    """Positions of the stages that read `follower`'s state: its rules or its items."""
    listeners = getattr(follower, "listeners", [])
    return [
        i
        for i, stage in enumerate(stages)
        if getattr(stage, "rules", None) is follower
        or getattr(stage, "online", None) is follower
        or any(stage is listener for listener in listeners)
    ]


def checked_user_ids(user_ids: Any) -> NDArray[np.int32]:
    """A request's user ids as int32 [n]: BadRequest unless it holds n >= 1 integer ids in
    shape [n] or [n, 1]."""
    if user_ids is None:
        raise BadRequest(f"a request must carry the input {INPUT}")
    array = np.asarray(user_ids)
    if array.ndim not in (1, 2) or (array.ndim == 2 and array.shape[1] != 1):
        raise BadRequest(f"{INPUT} must have shape [n, 1], got {list(array.shape)}")
    if array.size == 0:
        raise BadRequest(f"{INPUT} must hold at least one user id")
    if not np.issubdtype(array.dtype, np.integer):
        raise BadRequest(f"{INPUT} must be INT32, got {array.dtype}")
    if array.dtype != np.int32 and (array.min() < -(2**31) or array.max() >= 2**31):
        raise BadRequest(f"{INPUT} holds ids outside INT32")
    return array.reshape(-1).astype(np.int32)


class OutageLog:
    """One log line when the online store becomes unavailable (or the reason changes), one when
    it answers again: never one per failed request."""

    def __init__(self, log: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._clock = clock
        self._kind: type[OnlineStoreUnavailable] | None = None
        self._since = 0.0
        self._failed = 0

    def failed(self, error: OnlineStoreUnavailable) -> None:
        self._failed += 1
        if type(error) is self._kind:
            return
        if self._kind is None:
            self._since = self._clock()
        self._kind = type(error)
        cause = f" ({error.__cause__!r})" if error.__cause__ else ""
        self._log(f"{error}{cause}; failing requests with UNAVAILABLE until it recovers")

    def succeeded(self) -> None:
        if self._kind is None:
            return
        seconds = self._clock() - self._since
        self._log(
            f"online store available again after {seconds:.1f} s ({self._failed} requests failed)"
        )
        self._kind, self._failed = None, 0
