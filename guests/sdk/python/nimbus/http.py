"""Requests, responses and a router for nimbus' record handler
(``nimbus:platform/http-handler``)."""

import json as _json
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import parse_qs, unquote

from wit_world import exports
from wit_world.exports.http_handler import Request as _WitRequest
from wit_world.exports.http_handler import Response

from .data import to_bytes
from .errors import NimbusError

Headers = Union[Dict[str, str], List[Tuple[str, str]]]


class HttpError(Exception):
    """Raised by a handler to answer ``status`` with ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def response(status: int, body: Union[bytes, str, None] = b"", headers: Headers = ()) -> Response:
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers)
    data = b"" if body is None else to_bytes(body, "a response body")
    return Response(status, [(k, str(v)) for k, v in pairs], data)


def json(status: int, value: Any, headers: Optional[Dict[str, str]] = None) -> Response:
    return response(
        status,
        _json.dumps(value),
        {"content-type": "application/json", **(headers or {})},
    )


def text(status: int, body: str, headers: Optional[Dict[str, str]] = None) -> Response:
    return response(status, body, {"content-type": "text/plain; charset=utf-8", **(headers or {})})


class Request:
    """The request as handlers see it: the record's fields plus helpers."""

    def __init__(self, record: _WitRequest, ctx: Any, params: Dict[str, str]):
        self.method = record.method
        self.path = record.path
        # The first value of a repeated key, as the JavaScript and Rust SDKs read it.
        self.query = {k: v[0] for k, v in parse_qs(record.query, keep_blank_values=True).items()}
        self.headers = {k.lower(): v for k, v in record.headers}
        self.params = {**dict(record.params), **params}
        self.body = bytes(record.body)
        self.ctx = ctx

    @property
    def identity(self):
        """The signed-in user (``user_id``, ``email``, ``role``) when the route required a
        token, else None."""
        return self.ctx.identity

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    def text(self) -> str:
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON answers 400."""
        try:
            return _json.loads(self.body)
        except ValueError:
            raise HttpError(400, "the body must be JSON") from None


def _segments(record: _WitRequest) -> List[str]:
    # Under the manifest route's `/...` when it has one, so that a component does not repeat
    # where the manifest mounts it; otherwise the whole path.
    for name, value in record.params:
        if name == "...":
            return [s for s in value.split("/") if s]
    return [unquote(s) for s in record.path.split("/") if s]


def _compile(pattern: str) -> Callable[[List[str]], Optional[Dict[str, str]]]:
    parts = [p for p in pattern.split("/") if p]

    def match(segments: List[str]) -> Optional[Dict[str, str]]:
        params: Dict[str, str] = {}
        for i, part in enumerate(parts):
            if part == "*":
                params["*"] = "/".join(segments[i:])
                return params
            if i >= len(segments):
                return None
            if part.startswith(":"):
                params[part[1:]] = segments[i]
            elif part != segments[i]:
                return None
        return params if len(segments) == len(parts) else None

    return match


Handler = Callable[[Request], Any]


class Router:
    """Routes by method and path: ``:name`` matches one segment, a final ``*`` the rest."""

    def __init__(self) -> None:
        self._routes: List[Tuple[str, Callable, Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append((method, _compile(pattern), handler))
            return handler

        return register

    def get(self, pattern: str):
        return self.route("GET", pattern)

    def post(self, pattern: str):
        return self.route("POST", pattern)

    def put(self, pattern: str):
        return self.route("PUT", pattern)

    def patch(self, pattern: str):
        return self.route("PATCH", pattern)

    def delete(self, pattern: str):
        return self.route("DELETE", pattern)

    def handle(self, record: _WitRequest, ctx: Any) -> Response:
        """Answers one request: the handler's return value (a Response, or any other value
        as JSON with 200), HttpError and NimbusError as their status, anything else as 500."""
        segments = _segments(record)
        path_matched = False
        for method, match, handler in self._routes:
            params = match(segments)
            if params is None:
                continue
            path_matched = True
            if method != record.method:
                continue
            try:
                result = handler(Request(record, ctx, params))
                return result if isinstance(result, Response) else json(200, result)
            except Exception as error:  # noqa: BLE001 - every failure becomes an answer
                return failure(error)
        if path_matched:
            return json(405, {"error": "method not allowed"})
        return json(404, {"error": f"no route for {record.method} {record.path}"})

    def handler(self) -> type:
        """The class a component's module exports as ``HttpHandler``."""
        router = self

        class HttpHandler(exports.HttpHandler):
            def handle(self, req: _WitRequest, ctx: Any) -> Response:
                return router.handle(req, ctx)

        return HttpHandler


def failure(error: Exception) -> Response:
    """The answer for an exception raised by a handler."""
    if isinstance(error, (HttpError, NimbusError)):
        return json(error.status, {"error": str(error)})
    traceback.print_exception(error, file=sys.stderr)
    return json(500, {"error": "internal error"})
