"""Who may use the dashboard, and what a page may ask of it.

- Credentials: HTTP basic auth (``--basic-auth user:password``, several allowed) and/or
  a token (``--token``) sent as ``Authorization: Bearer <token>``, or once as
  ``?token=<token>`` in a browser, which then keeps it in an HttpOnly cookie.
- Changes (every ``POST``) must be JSON sent by the dashboard's own pages: a JSON body
  cannot be posted cross-site without the browser asking first, and a foreign
  ``Origin`` is refused, so another site cannot drive the buttons (CSRF).
- Every response forbids framing and foreign scripts (``Content-Security-Policy``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from celeriac.dashboard.options import DashboardOptions

__all__ = ["TOKEN_COOKIE", "add_security_headers", "is_authorized", "security_middleware"]

TOKEN_COOKIE = "celeriac_token"
#: Paths served without credentials (load balancers' health checks).
OPEN_PATHS = frozenset({"/healthz"})
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _basic_ok(header: str, accepted: tuple[str, ...]) -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return any(_same(pair, candidate) for candidate in accepted)


def _bearer_ok(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and _same(given.strip(), token)


def is_authorized(request: web.Request, options: DashboardOptions) -> bool:
    """Whether the request carries credentials the dashboard accepts."""
    header = request.headers.get("Authorization", "")
    if options.basic_auth and _basic_ok(header, options.basic_auth):
        return True
    token = options.token
    if token is None:
        return False
    candidates = (request.cookies.get(TOKEN_COOKIE), request.query.get("token"))
    return _bearer_ok(header, token) or any(c and _same(c, token) for c in candidates)


def _refusal(options: DashboardOptions) -> web.HTTPUnauthorized:
    if options.basic_auth:
        return web.HTTPUnauthorized(
            headers={"WWW-Authenticate": 'Basic realm="celeriac dashboard", charset="UTF-8"'},
            text="401: credentials required",
        )
    return web.HTTPUnauthorized(text="401: open the dashboard with ?token=<token>")


def _cross_site(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc != request.host


def security_middleware(options: DashboardOptions) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Checks credentials, refuses non-JSON or cross-site POSTs, keeps a ``?token=``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        guarded = options.needs_auth and request.path not in OPEN_PATHS
        if guarded and not is_authorized(request, options):
            raise _refusal(options)
        if request.method == "POST":
            if request.content_type != "application/json":
                raise web.HTTPUnsupportedMediaType(text="415: send JSON")
            if _cross_site(request):
                raise web.HTTPForbidden(text="403: cross-site request refused")
        response = await handler(request)
        token, given = options.token, request.query.get("token")
        if token is not None and given and _same(given, token) and not response.prepared:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return response

    return middleware


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An ``on_response_prepare`` hook adding the security headers to every response."""
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
