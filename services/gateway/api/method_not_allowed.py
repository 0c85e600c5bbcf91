"""405 answers that name every method of the path.

The framework answers a method a path does not take with the methods of the first route of that
path only (`Allow: PUT` for PATCH /items/1, which takes PUT, GET and DELETE): a last route per path
of the router answers every other method, naming all of them.
"""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import Receive, Scope, Send


class MethodNotAllowed:
    """An ASGI app answering 405 with `Allow: <allow>` to any request."""

    def __init__(self, allow: str) -> None:
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {"Allow": self.allow}
        response = JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)
        await response(scope, receive, send)


class IdConvertor(Convertor[str]):
    """A path segment that may be an integer id, so the 405 route of /users/{user_id} leaves
    /users/sample to its own route."""

    regex = "-?[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())


def allow_every_method_of_each_path(router: APIRouter) -> None:
    """Add the 405 route of each path of `router` that several routes share; a path parameter
    named `*_id` matches integers only there."""
    methods: dict[str, set[str]] = {}
    for route in router.routes:
        if isinstance(route, APIRoute):
            methods.setdefault(route.path, set()).update(route.methods or ())
    for path, allowed in methods.items():
        if len(allowed) < 2:
            continue  # the framework's own 405 names it
        refuse_every_method(router, path.replace("_id}", "_id:id}"), ", ".join(sorted(allowed)))


def refuse_every_method(router: APIRouter, path: str, allow: str) -> None:
    """A route of `router` answering 405 `Allow: <allow>` to any request for `path`."""
    # an ASGI app, not a request handler: the route then matches every method
    router.add_route(path, cast(Any, MethodNotAllowed(allow)), include_in_schema=False)
