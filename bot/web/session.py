"""Who a browser is, for the web chat: a session cookie, not a typed name.

The first request that needs an identity (a command, a vote, a picture to mascotify) gets a
fresh random token in an HttpOnly, SameSite=Strict cookie; the store keeps only its SHA-256.
Votes, stars and collections belong to the session (``web:<session id>``), so changing the
name in the chat's box changes how you are shown, not who you are, and a browser cannot cast a
second vote on a mascot by renaming itself. The nightly loop's ``min_voters`` therefore counts
distinct browsers and Discord users.

What it does not protect against: someone who clears their cookies or opens another browser
profile is a new voter. The local web chat is for a machine's own users and a trusted few;
a public deployment's votes come from Discord, whose accounts are the identity.
"""

from __future__ import annotations

from aiohttp import web

COOKIE = "mascot_session"
MAX_AGE_S = 400 * 24 * 3600  # the longest a browser keeps a cookie
MAX_TOKEN = 100  # tokens are 43 characters; anything much longer is not one of ours
FRESH = web.RequestKey("fresh_session_token", str)


def session_of(request: web.Request, store) -> str:
    """The session id of the browser behind ``request``, opening a session when its cookie is
    missing or is not one this store gave out (the cookie is set on the way out)."""
    token = request.cookies.get(COOKIE, "")
    if token and len(token) <= MAX_TOKEN:
        known = store.web_session(token)
        if known is not None:
            return known
    if FRESH in request:  # a second look within the same request
        return store.web_session(request[FRESH])
    token, session = store.open_web_session()
    request[FRESH] = token
    return session


@web.middleware
async def issue_cookies(request: web.Request, handler):
    """Sets the cookie of a session opened while handling the request, whatever it answered."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _set(request, response)
        raise
    _set(request, response)
    return response


def _set(request: web.Request, response: web.StreamResponse) -> None:
    if FRESH in request and not response.prepared:
        response.set_cookie(
            COOKIE, request[FRESH], max_age=MAX_AGE_S, httponly=True, samesite="Strict", path="/"
        )
