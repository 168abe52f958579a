"""The demo and load simulator: ``python -m data.sim --help``."""
