"""Every component id, as a constant. Repeated items use dict ids.

Never build an id by joining strings: a typo here fails at import, a typo in a
joined string fails silently in the browser.
"""

from __future__ import annotations

# home page
HOME_TICK = "home-tick"
HOME_SITE = "home-site"
HOME_LANG = "home-lang"
HOME_LIVE = "home-live"
