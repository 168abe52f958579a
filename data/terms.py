"""The project's vocabulary, each name defined once: the roles people and
walls sign in with, the urgency of an incident and the chain of levels that
own incidents."""

from __future__ import annotations

# people's roles (accounts, site rosters); a wall signs in as ``wall``
PERSON_ROLES = ("admin", "supervisor", "worker", "volunteer", "analyst")
ROLES = (*PERSON_ROLES, "wall")
# roles that belong to one site (an admin or analyst may have every site)
SITE_ROLES = ("worker", "volunteer", "supervisor")
# roles a person of a unit (street, district, city) may have
UNIT_ROLES = ("supervisor", "analyst", "admin")
URGENCIES = (1, 2, 3)  # an incident's level: 1 urgent, 2 important, 3 general
CHAIN = ("grid", "community", "street", "district")  # who owns an incident
# the levels of the units a site hangs under, lowest first (a community is
# a unit and the owner level of the same name; the city owns no incident)
UNIT_LEVELS = ("community", "street", "district", "city")
