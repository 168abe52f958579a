"""Who is signed in, shown in a screen's header, with the way to sign out."""

from __future__ import annotations

from dash import html

from data.site import User
from layouts.i18n import duty_text, t


def who_badge(component_id: str, user: User | None, lang: str,
              class_name: str) -> html.A:
    """The signed-in user's name and duty; a link to the sign-out page."""
    if user is None:
        return html.A(t("auth.sign_in", lang), href=f"/login?lang={lang}",
                      id=component_id, className=class_name)
    return html.A(id=component_id, className=class_name, href=f"/logout?lang={lang}",
                  title=t("auth.sign_out", lang),
                  **{"data-testid": "who"},
                  children=[html.Span(f"{user.name} · {duty_text(user.duty, lang)}"),
                            html.Span(f" · {t('auth.sign_out', lang)}",
                                      className="who-out")])
