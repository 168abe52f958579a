"""Every component id, as a constant. Repeated items use dict ids.

Never build an id by joining strings: a typo here fails at import, a typo in a
joined string fails silently in the browser.
"""

from __future__ import annotations

from dash import ALL

# home page
HOME_TICK = "home-tick"
HOME_SITE = "home-site"
HOME_LANG = "home-lang"
HOME_LIVE = "home-live"

# wall
WALL_ROOT = "wall-root"
WALL_CANVAS = "wall-canvas"
WALL_CLOCK = "wall-clock"
WALL_FRESH = "wall-fresh"
WALL_ALERT = "wall-alert"
WALL_STALE = "wall-stale"
WALL_PEOPLE = "wall-people"
WALL_PEOPLE_NOTE = "wall-people-note"  # "≈ estimate" while a counter is silent
WALL_RANKING = "wall-ranking"
WALL_VEHICLES = "wall-vehicles"
WALL_PARKING = "wall-parking"
WALL_MAP = "wall-map"
WALL_FLOW = "wall-flow"
WALL_TICKER = "wall-ticker"
WALL_SPOTLIGHT = "wall-spotlight"
WALL_HEALTH = "wall-health"  # the feed-health strip
WALL_REQUEST = "wall-request"  # set by assets/wall.js when a new version is pushed
WALL_APPLIED = "wall-applied"  # what the page shows now: version, cast
WALL_STATUS = "wall-status"  # data times, read by the stale check in the browser
WALL_TICK = "wall-tick"  # 1 s: clock, data age, stale banner (in the browser)
WALL_POLL = "wall-poll"  # slow fallback when the event stream is down
# set by assets/wall.js while the event stream is down: the spotlight is due
WALL_SPOT_REQUEST = "wall-spot-request"
WALL_ACK = "wall-ack"  # a dummy output: tells assets/wall.js an update landed
WALL_SITE = "wall-site"
WALL_LANG = "wall-lang"


def wall_kpi(name: str) -> dict[str, str]:
    """A KPI tile of the wall (people_in_1h, open, on_time_rate, …)."""
    return {"type": "wall-kpi", "name": name}

# phone (/m)
M_ROOT = "m-root"
M_SITE = "m-site"
M_LANG = "m-lang"
M_PUSH = "m-push"  # set by assets/push.js when an incident changed
M_ACK = "m-ack"
M_USER = "m-user"
M_TASKS = "m-tasks"
M_TASKS_SIG = "m-tasks-sig"  # what the task list shows, to redraw on change
M_FLASH = "m-flash"
M_CATEGORY = "m-category"
M_LEVEL = "m-level"
M_TITLE = "m-title"
M_DETAIL = "m-detail"
M_GRID = "m-grid"
M_LOCATE = "m-locate"
M_POSITION = "m-position"
M_POSITION_TEXT = "m-position-text"
M_PHOTO = "m-photo"
M_PHOTO_NAME = "m-photo-name"
M_SUBMIT = "m-submit"
M_QUEUE = "m-queue"


M_ACTIONS = {"type": "m-act", "op": ALL, "id": ALL}
M_CLICKED = "m-clicked"  # {op, id, at}: the action button tapped last


def m_action(op: str, incident_id: str) -> dict[str, str]:
    """A task's action button on the phone (accept, start, resolve)."""
    return {"type": "m-act", "op": op, "id": incident_id}


def m_note(incident_id: str) -> dict[str, str]:
    """The note field of a task on the phone (needed to resolve)."""
    return {"type": "m-note", "id": incident_id}

# supervisor console (/console)
C_ROOT = "c-root"
C_SITE = "c-site"
C_LANG = "c-lang"
C_PUSH = "c-push"  # set by assets/push.js when an incident or the cast changed
C_ACK = "c-ack"
C_LIVE = "c-live"  # set by assets/push.js on new versions, at most once a second
C_LIVE_ACK = "c-live-ack"
C_USER = "c-user"
C_CAST_STATUS = "c-cast-status"
C_CLEAR_WALL = "c-clear-wall"
C_GRID = "c-grid"  # the selected grid id
C_GRID_LIST = "c-grid-list"
C_GRID_MAP = "c-grid-map"
C_PROFILE = "c-profile"
C_PROFILE_SIG = "c-profile-sig"
C_CAST_GRID = "c-cast-grid"
C_F_STATUS = "c-f-status"
C_F_LEVEL = "c-f-level"
C_F_CATEGORY = "c-f-category"
C_F_OVERDUE = "c-f-overdue"
C_F_MINE = "c-f-grid-only"
C_TABLE = "c-table"
C_INCIDENT = "c-incident"  # the selected incident id
C_DETAIL = "c-detail"
C_DETAIL_SIG = "c-detail-sig"  # what the detail panel shows, to redraw on change
C_FLASH = "c-flash"
C_CAST_INCIDENT = "c-cast-incident"
C_REASON = "c-reason"
C_NOTE = "c-note"
C_ASSIGNEE = "c-assignee"
C_DEADLINE_H = "c-deadline-h"
C_INTO = "c-into"
C_PRODUCERS = "c-producers"  # the producers panel (open: laid over the incidents)
C_PRODUCERS_OPEN = "c-producers-open"
C_PRODUCERS_CLOSE = "c-producers-close"
C_P_FILTER = "c-p-filter"  # by state
C_P_COUNTS = "c-p-counts"
C_P_TABLE = "c-p-table"
C_P_REFUSED = "c-p-refused"  # the chosen producer's refused entries
C_P_TICK = "c-p-tick"  # 10 s while the panel is open


C_GRID_IDS = "c-grid-ids"  # the site's grid ids, in the map's trace order
C_GRID_BUTTONS = {"type": "c-grid-btn", "id": ALL}


def c_grid_button(grid_id: str) -> dict[str, str]:
    return {"type": "c-grid-btn", "id": grid_id}


C_ACTIONS = {"type": "c-act", "op": ALL}
C_CLICKED = "c-clicked"  # {op, at}: the action button pressed last


def c_action(op: str) -> dict[str, str]:
    """An action button of the selected incident; verify carries passed 1/0."""
    return {"type": "c-act", "op": op}

# --- replay (/replay): the wall's canvas above a time bar, driven by assets/replay.js
REPLAY_ROOT = "replay-root"
REPLAY_STAGE = "replay-stage"
REPLAY_MOMENT = "replay-moment"
REPLAY_PLAY = "replay-play"
REPLAY_SPEEDS = "replay-speeds"
REPLAY_PREV = "replay-prev"
REPLAY_NEXT = "replay-next"
REPLAY_SCRUBBER = "replay-scrubber"
REPLAY_RANGE = "replay-range"
REPLAY_MARKS = "replay-marks"
REPLAY_NOTE = "replay-note"
REPLAY_MARK_ADD = "replay-mark-add"
REPLAY_BOOKMARKS = "replay-bookmarks"
REPLAY_STATUS = "replay-status"
REPLAY_EXPORT = "replay-export"

# a unit's wall (/wall?unit=…: street, district, city)
UW_ROOT = "uw-root"
UW_MAP = "uw-map"
UW_COMPARE = "uw-compare"  # each child against its own past
UW_RANKING = "uw-ranking"  # the children ranked: one click away
UW_TICKER = "uw-ticker"
UW_SPOTLIGHT = "uw-spotlight"
UW_CLOCK = "uw-clock"
UW_FRESH = "uw-fresh"
UW_STALE = "uw-stale"


def unit_wall_kpi(name: str) -> dict[str, str]:
    """A KPI tile's value on a unit's wall (incidents_open, closure_rate, …)."""
    return {"type": "uw-kpi", "name": name}


def unit_wall_past(name: str) -> dict[str, str]:
    """The same KPI against the unit's own last week and last month."""
    return {"type": "uw-kpi-past", "name": name}


REPLAY_CLIP_MINUTES = "replay-clip-minutes"
REPLAY_CLIP = "replay-clip"

# a unit's console (/console?unit=…): a street's, a district's, the city's
UC_ROOT = "uc-root"
UC_UNIT = "uc-unit"  # the unit whose console this is
UC_LANG = "uc-lang"
UC_TICK = "uc-tick"
UC_VIEW = "uc-view"  # owned here | overdue | under supervision
UC_KPIS = "uc-kpis"
UC_CHILDREN = "uc-children"  # the drill-down: child units, or a community's grids
UC_TABLE = "uc-table"
UC_PICK = "uc-pick"  # {site, id}: the incident chosen
UC_DETAIL = "uc-detail"
UC_DETAIL_SIG = "uc-detail-sig"
UC_FLASH = "uc-flash"
UC_DONE = "uc-done"  # an op was made: lists and detail read again
UC_NOTE = "uc-note"
UC_REASON = "uc-reason"
UC_LEVEL = "uc-level"  # the level an incident is handed down to
UC_HOURS = "uc-hours"  # ... and the hours it has
UC_ACTIONS = {"type": "uc-act", "op": ALL}
UC_CLICKED = "uc-clicked"


def uc_action(op: str) -> dict[str, str]:
    """An action button of the unit console's incident panel."""
    return {"type": "uc-act", "op": op}
