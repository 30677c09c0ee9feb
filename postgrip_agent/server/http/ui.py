"""The web UI: a page and its assets, shipped in the package (nothing fetched at run time), and the
sign-in that keeps the service's token in an HttpOnly cookie.

The page reads and steers everything through the same API as any client. With an auth token
set, a request that carries no ``Authorization`` header may carry the ``postgrip_ui`` cookie
instead (see ``cookie_authorization()``); a write made so must also carry the
``X-PostGrip-UI: 1`` header, which a cross-site form or link cannot send, so another site
cannot make a signed-in browser act (CSRF). The assets hold no data, so they are public.
"""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..engine.sessions import same_secret
from ..errors import BadRequest, Forbidden, NotFound, Unauthorized
from .request import Request, Response

#: the cookie holding the token, and the header a write signed in by it must carry
COOKIE = "postgrip_ui"
UI_HEADER = "x-postgrip-ui"
_ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
_SECURITY = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
}
Route = Tuple[str, str, str, Callable[[Request], Response]]


def _asset(name: str) -> bytes:
    return resources.files("postgrip_agent.server").joinpath("ui", name).read_bytes()


def cookie_authorization(method: str, headers: Dict[str, str]) -> Optional[str]:
    """An ``Authorization`` value from the UI's cookie (None without one). A write signed in by
    the cookie alone must carry ``X-PostGrip-UI: 1``, else it is refused (403): a cross-site
    request cannot set that header."""
    raw = headers.get("cookie")
    if not raw or COOKIE not in raw:
        return None
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except Exception:
        return None
    morsel = cookie.get(COOKIE)
    if morsel is None or not morsel.value:
        return None
    if method not in ("GET", "HEAD") and headers.get(UI_HEADER) != "1":
        raise Forbidden("a change signed in by the web UI's cookie must come from the UI (header X-PostGrip-UI: 1)")
    return f"Bearer {morsel.value}"


def ui_routes(auth_token: Optional[str], public: str) -> List[Route]:
    """``GET /`` (the page), ``GET /ui/{asset}``, ``POST /ui/login``, ``POST /ui/logout``, ``GET /ui/session``."""

    def page(_: Request) -> Response:
        return 200, _asset("index.html"), {"Content-Type": "text/html; charset=utf-8", **_SECURITY}

    def asset(req: Request) -> Response:
        name = req.params["asset"]
        if name not in _ASSETS:
            raise NotFound(f"no such UI asset: {name}")
        return 200, _asset(name), {"Content-Type": _ASSETS[name], **_SECURITY}

    def session(req: Request) -> Response:
        return 200, {"auth_required": auth_token is not None}, {"Cache-Control": "no-store"}

    def login(req: Request) -> Response:
        token = _token_of(req.raw_body)
        if auth_token is None:
            return 200, {"signed_in": True, "auth_required": False}, {}
        if not same_secret(token, auth_token):
            raise Unauthorized("that token is not this service's; ask whoever runs it (postgrip-agent server --auth-token)")
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        return 200, {"signed_in": True, "auth_required": True}, {"Set-Cookie": cookie, "Cache-Control": "no-store"}

    def logout(_: Request) -> Response:
        return 200, {"signed_in": False}, {"Set-Cookie": f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"}

    def icon(_: Request) -> Response:
        return 200, b"", {"Content-Type": "image/x-icon", "Cache-Control": "max-age=86400"}

    return [
        ("GET", "/", public, page),
        ("GET", "/favicon.ico", public, icon),
        ("GET", "/ui/session", public, session),
        ("POST", "/ui/login", public, login),
        ("POST", "/ui/logout", public, logout),
        ("GET", "/ui/{asset}", public, asset),
    ]


def _token_of(body: bytes) -> str:
    try:
        data: Any = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest('sign in with a JSON body {"token": "..."}') from None
    token = data.get("token") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token.strip() or len(token) > 4096 or any(c in token for c in ";,\r\n "):
        raise BadRequest('sign in with a JSON body {"token": "..."}: a non-empty token without spaces, ";" or ","')
    return token.strip()
