"""The explain view's body: the executor's explanation document, read into `Explanation`."""

from __future__ import annotations

from fastapi import status
from pydantic import ValidationError

from services.gateway.api.errors import Problem
from services.gateway.schemas_page import Explanation


def read_explanation(document: str | None) -> Explanation:
    """The model's explanation; a 502 Problem when it sent none or one that does not parse
    (the model failed this request: the same status as its other failures)."""
    if document is None:
        raise Problem(
            status.HTTP_502_BAD_GATEWAY,
            "the model gave no explanation",
            internal="the answer lacks the explanation output (a model exported before explain?)",
        )
    try:
        return Explanation.model_validate_json(document)
    except ValidationError as exc:
        raise Problem(
            status.HTTP_502_BAD_GATEWAY,
            "the model's explanation could not be read",
            internal=f"explanation: {exc.error_count()} errors, first: {exc.errors()[0]['msg']}",
        ) from exc
