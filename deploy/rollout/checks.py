"""Before a version becomes the served one: it answers a known user from its build and an unknown
user with the popular-items fallback, through Triton (the version named in the request)."""

from __future__ import annotations

from typing import Any

from deploy.triton.repository_api import Repository
from services.ensemble.contract import INPUT, MODEL_NAME


def answer(api: Repository, version: int, user: int, timeout: float) -> dict[str, Any]:
    """Output name -> values of version `version`'s answer for one user."""
    inputs = [{"name": INPUT, "shape": [1, 1], "datatype": "INT32", "data": [user]}]
    reply = api.infer(MODEL_NAME, version, inputs, timeout)
    if str(reply.get("model_version")) != str(version):
        raise ValueError(f"version {reply.get('model_version')} answered, not {version}")
    return {output["name"]: output["data"] for output in reply.get("outputs", [])}


def problem(api: Repository, version: int, known: int, unknown: int, timeout: float) -> str | None:
    """None if both answers are right, else what is wrong, in words."""
    try:
        first = answer(api, version, known, timeout)
        second = answer(api, version, unknown, timeout)
    except (OSError, ValueError) as exc:
        return f"a check request failed: {str(exc).splitlines()[0] if str(exc) else exc!r}"
    if not first.get("ordered_ids") or any(int(i) < 0 for i in first["ordered_ids"]):
        return f"known user {known} got no items"
    if first.get("fallback") != [False]:
        return f"known user {known} got the fallback answer (its build's state is not read)"
    if not second.get("ordered_ids") or second.get("fallback") != [True]:
        return f"unknown user {unknown} did not get the fallback answer"
    return None
