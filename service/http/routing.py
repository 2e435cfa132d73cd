"""How every route meets the HTTP rules, in one place.

* The caller first: on ``/v1`` routes the API key is checked, the request counted in its class
  of rate limits (``service.http.limits``), then the role the route requires, before a byte of
  the body is read (FastAPI reads and parses a body before it runs
  any dependency, so a 50 MB JSON body would otherwise be parsed for a caller who may not
  post it).
* Every body bounded: a route whose body FastAPI parses gets at most
  ``SERVICE_MAX_JSON_BODY_BYTES`` (413 ``payload_too_large``, from the declared length or
  while reading); the routes that read their body themselves (uploads, pushes) stream it
  with their own limits.
* ``HEAD`` is served wherever ``GET`` is (RFC 9110 §9.3.2): the GET answer without its
  content.

(A 405 lists every method served at its path in ``Allow``: see ``service.http.problems``.)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.domain.access import Principal
from service.http.deps import CurrentPrincipal, current_principal
from service.http.limits import caller_of, enforce
from service.http.problems import HttpProblem
from service.kit.rate_limits import DEFAULT

#: A rule on the caller alone (``service.domain.access.require_may_*``), checked before the body.
CallerRule = Callable[[Principal], None]


def _body_too_large(limit: int) -> HttpProblem:
    return HttpProblem(413, "payload_too_large", "Requête trop volumineuse",
                       f"Le corps dépasse la taille admise ({limit} octets).")


class BodyTooLarge(StarletteHTTPException):
    """Raised while FastAPI reads a body (it lets only HTTP exceptions through unchanged)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _body_too_large(limit).detail)


def caller_rule(rule: CallerRule) -> Any:
    """A route dependency enforcing ``rule`` on the caller, before the body is read.

    Used as ``dependencies=[caller_rule(access.require_may_review)]``: ``GuardedRoute`` runs
    the rule ahead of the body; as a dependency it also keeps the rule when the route is
    called some other way.
    """

    async def check_caller(principal: CurrentPrincipal) -> None:
        rule(principal)

    check_caller.caller_rule = rule  # type: ignore[attr-defined]
    return Depends(check_caller)


class GuardedRoute(APIRoute):
    """An ``APIRoute`` that authenticates, checks the caller's role and bounds the body first."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        rules: Sequence[CallerRule] = [
            rule for d in self.dependencies if (rule := getattr(d.dependency, "caller_rule", None)) is not None]
        authenticated = self.path.startswith("/v1/")
        klass = next((name for d in self.dependencies if (name := getattr(d.dependency, "rate_class", None))),
                     DEFAULT)
        # FastAPI reads and parses this route's body itself: bound it. Routes without a body
        # parameter read theirs with their own streaming limits, or never.
        parsed_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            if authenticated:
                principal = await current_principal(request)
                await enforce(request, klass, caller_of(principal))
                for rule in rules:
                    rule(principal)
            if parsed_body:
                limit: int = request.app.state.settings.max_json_body_bytes
                declared = request.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    raise _body_too_large(limit)
                request = Request(request.scope, _bounded(request.receive, limit))
            return await handler(request)

        return guarded


def _bounded(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a body growing past ``limit`` bytes, whatever it declared."""
    seen = 0

    async def bounded_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return bounded_receive


class RequestRefConvertor(Convertor[str]):
    """The ``{galis_ref}`` of ``/v1/funding-requests/{galis_ref}``: any segment but ``imports``, so
    that ``/v1/funding-requests/imports`` (POST only) answers 405 to other methods instead of being
    taken for a request's reference. Malformed references still reach the route (404)."""

    regex = "(?!imports$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("request_ref", RequestRefConvertor())


def api_router(**kwargs: Any) -> APIRouter:
    """The ``APIRouter`` of every router of the service: its routes are ``GuardedRoute``."""
    return APIRouter(route_class=GuardedRoute, **kwargs)


#: Scope key set by ``HeadAsGet`` on the GET it runs for a HEAD.
HEAD_ONLY = "esms.head_only"


class HeadAsGet:
    """ASGI middleware serving ``HEAD`` as the ``GET`` of the same target, without its content.

    The headers (``Content-Length``, ``Content-Type``, ``ETag``…) are those of the GET answer;
    on a path with no GET the routing answers 405 as for any method it does not serve. The GET
    knows it sends no content (``HEAD_ONLY`` in the scope): it records no read of it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the content is not sent; wait for its last part
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD_ONLY: True}, receive, send_headers_only)
