"""HTTP plumbing shared by the routes: errors as JSON a user can act on, and request bodies read
within a size limit and parsed with the runtime's bounded JSON loader."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .._json import loads_bounded
from ..errors import InvalidInputError

__all__ = ["Problem", "parse_count", "problem_response", "read_json"]

_MAX_COUNT_DIGITS = 16


class Problem(Exception):
    """An error answered as `{"error": {"type", "message"}}` with its HTTP status."""

    def __init__(self, status: int, type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message


def parse_count(raw: str) -> int | None:
    """`raw` as a non-negative integer, or None when it is not one written in ASCII digits
    (at most 16 of them). `str.isdigit` alone lets through '²' and digit strings past CPython's
    int-conversion limit, both of which make `int()` raise."""
    if not raw or len(raw) > _MAX_COUNT_DIGITS or not (raw.isascii() and raw.isdecimal()):
        return None
    return int(raw)


def problem_response(status: int, type: str, message: str) -> JSONResponse:
    """The JSON error response every route answers with."""
    return JSONResponse({"error": {"type": type, "message": message}}, status_code=status)


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body_too_large",
        f"The request body is over the limit of {limit} bytes; store large documents elsewhere "
        "and pass a reference (the limit is `create_app(max_body_bytes=...)`).",
    )


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body: 413 past `limit` bytes (before reading it all), 422 when it is
    empty or not JSON within the runtime's limits (depth, numbers, Unicode)."""
    length = request.headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise Problem(400, "bad_request", "The Content-Length header is not a number.") from None
        if declared > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise Problem(422, "invalid_body", "The request body is empty; send a JSON object.")
    try:
        return loads_bounded(body, what="The request body", max_bytes=limit)
    except InvalidInputError as e:
        raise Problem(422, "invalid_body", str(e)) from None


def require_object(value: Any, what: str = "The request body") -> dict[str, Any]:
    """`value` if it is a JSON object, else 422."""
    if not isinstance(value, dict):
        raise Problem(422, "invalid_body", f"{what} must be a JSON object; got {type(value).__name__}.")
    return value
