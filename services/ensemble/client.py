"""A minimal gRPC client of the executor model: `python -m services.ensemble.client USER_ID ...`.

Prints one JSON line per user: catalogue item ids best first, their ranking scores, and whether
the popular-items fallback answered. Exit 1 with one line if Triton cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from services.ensemble.contract import INPUT, MODEL_NAME, OUTPUTS


def recommend(url: str, user_ids: list[int], timeout_s: float = 5.0) -> list[dict[str, object]]:
    client = grpcclient.InferenceServerClient(url)
    request = grpcclient.InferInput(INPUT, [len(user_ids), 1], "INT32")  # batch dim = users
    request.set_data_from_numpy(np.asarray(user_ids, dtype=np.int32).reshape(-1, 1))
    result = client.infer(MODEL_NAME, [request], client_timeout=timeout_s)
    ids, scores, fallback = (result.as_numpy(name) for name in OUTPUTS)
    return [
        {
            "user_id": user,
            "item_ids": ids[row].tolist(),
            "scores": [round(float(s), 6) for s in scores[row]],
            "fallback": bool(fallback.reshape(-1)[row]),
        }
        for row, user in enumerate(user_ids)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("user_ids", type=int, nargs="+")
    parser.add_argument("--url", default=os.environ.get("TRITON_GRPC_URL", "127.0.0.1:8001"))
    args = parser.parse_args()
    try:
        answers = recommend(args.url, args.user_ids)
    except InferenceServerException as exc:
        print(f"error: Triton at {args.url}: {exc.message()}", file=sys.stderr)
        return 1
    for answer in answers:
        print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
