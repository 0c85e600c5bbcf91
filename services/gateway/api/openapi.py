"""The OpenAPI document tells the truth about auth.

Without GATEWAY_API_KEY no route takes a key and none answers 401: the document then declares
no security scheme and no 401 answer. With one, GET /recommend still answers without it unless
`explain=true` is asked: its security lists the anonymous alternative (`{}`) first.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

KEY_OPTIONAL = (("get", "/recommend"),)
"""Operations that answer without the key too (only some of their requests need it)."""


def document_without_auth(app: FastAPI) -> dict[str, Any]:
    """`app`'s OpenAPI document (made once) with every security requirement, security scheme
    and 401 answer taken out."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        for operation in _operations(document):
            operation.pop("security", None)
            operation.get("responses", {}).pop("401", None)
        document.get("components", {}).pop("securitySchemes", None)
        app.openapi_schema = document
    return app.openapi_schema


def document_with_auth(app: FastAPI) -> dict[str, Any]:
    """`app`'s OpenAPI document (made once) where the KEY_OPTIONAL operations' security allows
    anonymous requests."""
    if app.openapi_schema is None:
        document = FastAPI.openapi(app)
        for method, path in KEY_OPTIONAL:
            operation = document["paths"][path][method]
            operation["security"] = [{}, *operation.get("security", [])]
        app.openapi_schema = document
    return app.openapi_schema


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for operations in document.get("paths", {}).values() for op in operations.values()]
