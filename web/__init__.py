"""The web tier: the Dash app factory, the JSON API and the process runtime."""
