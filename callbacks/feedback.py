"""Making an op on a user's behalf and telling them, in words, how it went.

Shared by the console and the phone: check and write the op, wait briefly for
the aggregator, and answer "done", "refused: why" or "sent, being applied".
"""

from __future__ import annotations

from typing import Any

from dash import html

from data.durable import NotReplicated
from data.incidents.lifecycle import Refused
from data.incidents.ops import submit_op, wait_applied
from data.site import User
from layouts.i18n import t
from web.auth import audit_log
from web.state import AppState


def run_op(state: AppState, site_id: str, user: User | None, op: str,
           incident_id: str, lang: str, label: str | None = None,
           **values: Any) -> html.Span:
    site, keys = state.sites[site_id], state.keys(site_id)
    target = f"{site_id}/{incident_id}"
    try:
        written = submit_op(state.redis, keys, site, user, op, incident_id, **values)
        refusal = wait_applied(state.redis, keys, incident_id, written, timeout=1.5)
    except Refused as exc:
        audit_log(f"op:{op}", target, "refused", str(exc))
        return html.Span(t("m.refused", lang, reason=str(exc)), className="err")
    except TimeoutError:
        audit_log(f"op:{op}", target, "ok", "written, not applied yet")
        return html.Span(t("m.pending", lang))
    except NotReplicated as exc:
        audit_log(f"op:{op}", target, "unconfirmed", str(exc))
        return html.Span(t("m.unconfirmed", lang), className="err")
    if refusal:
        audit_log(f"op:{op}", target, "refused", refusal)
        return html.Span(t("m.refused", lang, reason=refusal), className="err")
    audit_log(f"op:{op}", target)
    return html.Span(t("m.done", lang, op=t(f"op.{label or op}", lang)),
                     className="ok")


# In the browser: which action button was pressed, into a store, and nothing
# else. Dash calls a callback whose inputs are pattern-matched buttons each
# time a redraw brings new buttons (every task list or incident refresh);
# here that costs no request, and the server's action callback runs only on a
# real press.
FORWARD_PRESS = """function(clicks) {
    var trigger = window.dash_clientside.callback_context.triggered_id;
    var pressed = window.dash_clientside.callback_context.triggered.some(
        function (t) { return t.value; });
    if (!trigger || !pressed) { return window.dash_clientside.no_update; }
    return Object.assign({}, trigger, {at: Date.now()});
}"""
