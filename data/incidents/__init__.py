"""Incidents: the lifecycle's rules, the one store of records, the ops people
and producers submit."""
