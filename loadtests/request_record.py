"""requests.parquet: every request's figures, written by the locustfile, read by the summary.

Columns: `seconds` since the load shape started (at completion), `response_ms`, `case`
(known/unknown), `ok`, `users` running then; the schema's metadata `start_unix` is the wall-clock
time of the shape's start, which lines the record up with Locust's CSV history.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from loadtests.user_mix import CASES


class Recorder:
    """Every request's figures in compact arrays, written once as parquet when Locust quits."""

    def __init__(self) -> None:
        self.seconds = array("d")
        self.response_ms = array("d")
        self.case = array("b")
        self.ok = array("b")
        self.users = array("i")

    def add(self, seconds: float, response_ms: float, case: int, ok: bool, users: int) -> None:
        self.seconds.append(seconds)
        self.response_ms.append(response_ms)
        self.case.append(case)
        self.ok.append(1 if ok else 0)
        self.users.append(users)

    def write(self, path: Path, start_unix: float) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table(
            {
                "seconds": pa.array(self.seconds, pa.float64()),
                "response_ms": pa.array(self.response_ms, pa.float64()),
                "case": pa.array([CASES[index] for index in self.case], pa.string()),
                "ok": pa.array([bool(value) for value in self.ok], pa.bool_()),
                "users": pa.array(self.users, pa.int32()),
            }
        )
        table = table.replace_schema_metadata({"start_unix": repr(start_unix)})
        pq.write_table(table, path)


@dataclass(frozen=True)
class RequestRecord:
    """requests.parquet as numpy arrays, one element a request."""

    seconds: NDArray[Any]
    response_ms: NDArray[Any]
    case: NDArray[Any]
    ok: NDArray[Any]
    users: NDArray[Any]
    start_unix: float = float("nan")


def read_record(path: Path) -> RequestRecord:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    return RequestRecord(
        seconds=table.column("seconds").to_numpy(),
        response_ms=table.column("response_ms").to_numpy(),
        case=np.asarray(table.column("case").to_pylist(), dtype=object),
        ok=np.asarray(table.column("ok").to_pylist(), dtype=bool),
        users=table.column("users").to_numpy(),
        start_unix=float(metadata.get(b"start_unix", b"nan")),
    )
