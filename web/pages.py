"""The server's own HTML pages that more than one part of the web tier shows.

The gate (``web/auth.py``) refuses a screen with :func:`forbidden`; the
sign-in and admin pages read the page's language with :func:`request_lang`.
Kept apart from both so that neither imports the other.
"""

from __future__ import annotations

from flask import Response, render_template, request

from layouts.i18n import lang_of, t


def request_lang() -> str:
    """The language the request asks for (``?lang=`` or the form's field)."""
    return lang_of(request.args.get("lang") or request.form.get("lang"))


def forbidden(screen: str) -> Response:
    """403: the caller is signed in but may not see ``screen``."""
    lang = request_lang()
    body = render_template("forbidden.html", t=t, lang=lang,
                           screen=t(f"auth.screen.{screen}", lang))
    return Response(body, 403)
